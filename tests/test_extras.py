"""Optional extras: a module whose extra is missing fails with one line naming `pip install
'codehotfix[EXTRA]'` (simulated by hiding the dependency: sys.modules[name] = None)."""

import importlib
import sys

import pytest

from codehotfix.cli import main
from codehotfix.extras import EXTRAS, MissingExtraError, require_extra


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_each_extra_names_itself_when_a_module_is_missing(extra, monkeypatch):
    monkeypatch.setitem(sys.modules, EXTRAS[extra][0], None)
    with pytest.raises(MissingExtraError, match=rf"pip install 'codehotfix\[{extra}\]'"):
        require_extra(extra)


def test_unknown_extra_lists_the_valid_ones():
    with pytest.raises(KeyError, match="serve, report"):
        require_extra("gpu")


def _reimport(monkeypatch, package):
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module(package)


def test_server_without_fastapi(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(MissingExtraError, match=r"needs fastapi.*pip install 'codehotfix\[serve\]'"):
        _reimport(monkeypatch, "codehotfix.serve")


def test_report_without_matplotlib_is_one_cli_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for name in [n for n in sys.modules if n.startswith("codehotfix.report")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0
    assert "needs matplotlib" in err and "pip install 'codehotfix[report]'" in err


def test_key_detection_without_detect_secrets(monkeypatch):
    from codehotfix.privacy.detect import DetectConfig, scan_text

    monkeypatch.setitem(sys.modules, "detect_secrets", None)
    with pytest.raises(MissingExtraError, match=r"codehotfix\[privacy\]"):
        scan_text("token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n", "t.py", DetectConfig())


def test_run_and_train_check_their_extras_before_loading_a_model(tmp_path, tiny_cases, monkeypatch):
    import codehotfix.api as api
    from codehotfix.data.cases import write_cases

    monkeypatch.setattr(api, "load_model", lambda *a, **k: pytest.fail("loaded a model before checking extras"))
    cases = write_cases(tmp_path / "c.jsonl", tiny_cases)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingExtraError, match=r"codehotfix\[track\]"):
        api.train(cases, tmp_path / "hf", report_to="tensorboard")
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(MissingExtraError, match=r"--no-report"):
        api.run(cases, tmp_path / "run")


def test_lazy_exports_import_on_first_use_and_name_what_is_missing():
    from codehotfix.extras import lazy_exports

    getter = lazy_exports("codehotfix.evaluation", {"classify": "classify"})
    package = sys.modules["codehotfix.evaluation"]
    assert getter("classify") is importlib.import_module("codehotfix.evaluation.classify").classify
    assert package.__dict__["classify"] is getter("classify")  # kept as a plain attribute
    with pytest.raises(AttributeError, match="codehotfix.evaluation.*no_such_name"):
        getter("no_such_name")
