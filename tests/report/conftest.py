"""The ``make_run`` fixture: ``make_run(name, parts=...)`` builds a synthetic run folder in tmp_path."""

import pytest
from report_runs import ALL_PARTS, make_run_dir


@pytest.fixture
def make_run(tmp_path):
    def make(name: str = "run", parts=ALL_PARTS):
        return make_run_dir(tmp_path, name, parts)

    return make
