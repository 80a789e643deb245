"""The root options: --version, and -v/-q setting the level of the `codehotfix` logger (progress on
stderr); results stay on stdout."""

import logging

import pytest

from codehotfix.cli import main


def test_version_prints_and_exits_zero(capsys):
    main(["--version"])  # returns normally: the script's exit status is 0
    assert capsys.readouterr().out.startswith("codehotfix ")


@pytest.mark.parametrize("flags, level", [([], logging.INFO), (["-v"], logging.DEBUG), (["-q"], logging.WARNING)])
def test_verbosity_flags_set_the_package_log_level(flags, level, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*flags, "report", str(tmp_path / "absent")])  # any command: the callback runs first
    assert logging.getLogger("codehotfix").level == level
    handlers = [h for h in logging.getLogger("codehotfix").handlers if getattr(h, "_codehotfix_cli", False)]
    assert len(handlers) == 1  # repeated main() calls do not stack handlers


def test_library_progress_goes_through_logging(tmp_path, tiny_model_dir, tiny_cases, caplog):
    from codehotfix.api import train
    from codehotfix.data.cases import write_cases

    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases)
    with caplog.at_level(logging.INFO, logger="codehotfix"):
        train(cases, tmp_path / "hf", model=str(tiny_model_dir), overrides=["training.epochs=1"], progress=False)
    assert any(r.name == "codehotfix.api" and "training on 4 cases" in r.getMessage() for r in caplog.records)
