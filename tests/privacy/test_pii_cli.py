"""``codehotfix pii``: corpus → scan → cases → leak on the tiny model, and one-line errors."""

import json

import pytest

from codehotfix.cli import main


def test_corpus_scan_cases_leak(tmp_path, tiny_model_dir, capsys):
    main(["pii", "corpus", "--out", str(tmp_path / "c"), "--projects", "1", "--seed", "4"])
    corpus = json.loads(capsys.readouterr().out)
    files = tmp_path / "c" / "files"

    main(["pii", "scan", str(files), "--json", str(tmp_path / "scan.json")])
    printed = json.loads(capsys.readouterr().out)
    assert printed["findings"] == corpus["occurrences"] and printed["counts"] == corpus["by_kind"]
    assert all("@" not in loc.split(" ", 2)[2] for loc in printed["locations"])  # values redacted on screen
    assert len(json.loads((tmp_path / "scan.json").read_text())["findings"]) == corpus["occurrences"]

    out = tmp_path / "cases.jsonl"
    main(["pii", "cases", str(files), "--out", str(out), "--relative-to", str(files)])
    assert json.loads(capsys.readouterr().out)["values_by_kind"] == corpus["by_kind"]
    with pytest.raises(SystemExit) as e:
        main(["pii", "cases", str(files), "--out", str(out)])
    assert e.value.code == 2 and "already exists" in capsys.readouterr().err

    main(["pii", "leak", "--model", str(tiny_model_dir), "--cases", str(out), "--samples", "2",
          "--untargeted-samples", "6",
          "--max-new-tokens", "4", "--json", str(tmp_path / "leak.json")])
    result = json.loads((tmp_path / "leak.json").read_text())
    assert result["targeted"]["targets"] == corpus["occurrences"] and result["targeted"]["samples"] == 2 * corpus["occurrences"]
    assert result["untargeted"]["samples"] == 6 and result["untargeted"]["known_total"] == corpus["distinct_values"]
    assert (tmp_path / "leak.json.md").read_text().startswith("PII leakage of")
    capsys.readouterr()

    main(["pii", "leak", "--model", str(tiny_model_dir), "--secrets", str(tmp_path / "c" / "secrets.jsonl"),
          "--no-untargeted", "-k", "1", "--max-new-tokens", "2", "--json", str(tmp_path / "leak2.json")])
    assert json.loads(capsys.readouterr().out)["untargeted"] is None


def test_leak_needs_exactly_one_target_source(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["pii", "leak", "--json", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "exactly one of --secrets" in capsys.readouterr().err
