"""The sequence tests reuse the deploy tests' hotfix fixtures (tests/deploy/conftest.py)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("deploy_fixtures_seq", Path(__file__).parents[1] / "deploy" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

trained_hotfixes = _fixtures.trained_hotfixes
zero_hotfix = _fixtures.zero_hotfix
tiny_loaded = _fixtures.tiny_loaded
