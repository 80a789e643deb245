"""The serve tests reuse the deploy tests' hotfix fixtures (tests/deploy/conftest.py)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("deploy_fixtures", Path(__file__).parents[1] / "deploy" / "conftest.py")
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

trained_hotfixes = _fixtures.trained_hotfixes
zero_hotfix = _fixtures.zero_hotfix
tiny_loaded = _fixtures.tiny_loaded


@pytest.fixture(scope="module")
def tiny_loaded_module(tiny_model_dir):
    """A LoadedModel of the tiny model shared by one module's tests (a live server's model)."""
    return _fixtures.load_tiny(tiny_model_dir)
