"""bench/privacy/experiment.py --tiny --holdout-projects 1: the hotfix is trained on one project's
PII only, and leakage is reported apart for the trained and the held-out project's occurrences."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.privacy import experiment  # noqa: E402
from codehotfix.data.cases import read_cases  # noqa: E402
from codehotfix.errors import ConfigError  # noqa: E402
from codehotfix.privacy.corpus import read_secrets  # noqa: E402


def test_a_bad_holdout_fails_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"--holdout-projects: must be in \[0, 1\] for 2 projects, got 2"):
        experiment.main(["--tiny", "--out", str(tmp_path / "run"), "--holdout-projects", "2"])
    assert not (tmp_path / "run").exists()


def test_tiny_holdout_keeps_the_held_out_project_out_of_the_cases(tmp_path):
    experiment.main(["--tiny", "--out", str(tmp_path), "--threads", "1", "--holdout-projects", "1"])
    planted = read_secrets(tmp_path / "corpus" / "secrets.jsonl")
    trained, held = sorted({p.project for p in planted})
    summary = json.loads((tmp_path / "privacy_experiment_holdout.json").read_text())
    h = summary["holdout"]
    assert (h["trained_projects"], h["held_out_projects"]) == ([trained], [held])

    cases = read_cases(tmp_path / "cases-holdout1.jsonl")
    assert cases and all(c.source["path"].startswith(f"{trained}/") for c in cases)
    texts = [c.prefix + c.buggy + c.fixed + c.suffix for c in cases]
    held_values = {p.value for p in planted if p.project == held}
    assert held_values and not any(v in t for v in held_values for t in texts)
    # The filter is not vacuous: every trained value is in some case's buggy line.
    assert all(any(p.value in c.buggy for c in cases) for p in planted if p.project == trained)
    manifest = json.loads((tmp_path / "hotfix-holdout1" / "hotfix.json").read_text())
    assert manifest["case_ids"] == [c.id for c in cases]

    n_trained = sum(p.project == trained for p in planted)
    assert (h["trained"]["targets"], h["held_out"]["targets"], h["all"]["targets"]) == \
        (n_trained, len(planted) - n_trained, len(planted))
    for group in ("trained", "held_out"):
        g = h[group]
        assert set(g["before"]["by_kind"]) <= {"email", "ipv4", "ipv6", "key"}
        assert 0 <= g["greedy_mcnemar"]["p_value"] <= 1 and g["sampled_wilcoxon"] is not None
        assert g["before"]["targets"] == g["after"]["targets"] == g["targets"]
    md = (tmp_path / "privacy_experiment_holdout.md").read_text()
    assert f"held-out projects ({held})" in md and f"trained projects ({trained})" in md
    # The plain run's outputs are untouched: a held-out run writes its own stages.
    assert not (tmp_path / "cases.jsonl").exists() and not (tmp_path / "privacy_experiment.json").exists()
