"""bench/fresh_clone.sh on a stand-in project: it clones the checkout, runs the README's set-up command
step by step (timing each), runs the demo with an empty model cache and keeps its files; it refuses
an existing output folder and a README whose first command is not the demo's set-up."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fresh_clone.sh"

# A stand-in for `codehotfix demo`: writes the files a demo run leaves, and records the model cache it saw.
FAKE_DEMO = """#!/usr/bin/env bash
set -e
[ "$1" = demo ] && [ "$2" = --out ]
mkdir -p "$3/hotfix"
for f in config split summary base_eval hotfix_eval; do echo "{\\"cache\\": \\"$CODEHOTFIX_CACHE\\"}" > "$3/$f.json"; done
echo "{\\"cache\\": \\"$CODEHOTFIX_CACHE\\", \\"machine\\": {\\"cpu\\": \\"stand-in\\"}}" > "$3/base_eval.json"
echo '# summary' > "$3/summary.md"; echo '{}' > "$3/hotfix/hotfix.json"; printf 'weights' > "$3/hotfix/adapter_model.safetensors"
echo "demo ran" >&2
"""


def _project(tmp_path: Path, command: str) -> Path:
    """A git checkout holding the script and a README whose first bash block is ``command``."""
    repo = tmp_path / "project"
    (repo / "bench").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "bench" / "fresh_clone.sh")
    (repo / "README.md").write_text(f"# p\n\nSet-up:\n\n```bash\n{command}\n```\n\nTests:\n\n```bash\nbash .ci/run\n```\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


@pytest.fixture
def fake_path(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    demo = bin_dir / "codehotfix"
    demo.write_text(FAKE_DEMO)
    demo.chmod(demo.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_times_each_step_and_keeps_the_demo_files(tmp_path, fake_path):
    repo = _project(tmp_path, "export STEP=1 && echo one > one.txt && sleep 0.2 && codehotfix demo")
    out = tmp_path / "result"
    done = subprocess.run(["bash", str(repo / "bench" / "fresh_clone.sh"), str(out)], env=fake_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    timing = json.loads((out / "setup_timing.json").read_text())
    assert [s["command"] for s in timing["steps"]] == ["export STEP=1", "echo one > one.txt", "sleep 0.2"]
    assert timing["steps"][2]["seconds"] >= 0.2 and timing["command"].endswith("&& codehotfix demo")
    assert timing["total_seconds"] == pytest.approx(timing["install_seconds"] + timing["demo_seconds"], abs=0.02)
    assert len(timing["commit"]) >= 7 and timing["cpu_count"] >= 1
    assert timing["machine"] == {"cpu": "stand-in"}  # as the demo's evaluation recorded it
    for name in ("config.json", "split.json", "summary.json", "summary.md", "hotfix_manifest.json", "console.log",
                 "adapter.sha256"):
        assert (out / name).is_file(), name
    # The demo saw a model cache of its own, inside the clone's temporary folder (removed afterwards).
    cache = json.loads(gzip.open(out / "base_eval.json.gz", "rt").read())["cache"]
    assert cache.endswith("/cache") and not Path(cache).exists()
    assert "hotfix/adapter_model.safetensors" in (out / "adapter.sha256").read_text()
    # A second run never writes into a folder that exists.
    again = subprocess.run(["bash", str(repo / "bench" / "fresh_clone.sh"), str(out)], env=fake_path,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr


def test_refuses_a_readme_whose_command_is_not_the_demo_set_up(tmp_path, fake_path):
    repo = _project(tmp_path, "pip install codehotfix")
    done = subprocess.run(["bash", str(repo / "bench" / "fresh_clone.sh"), str(tmp_path / "result")], env=fake_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "does not end in 'codehotfix demo'" in done.stderr
    assert not (tmp_path / "result").exists()


def test_the_real_readme_runs_the_demo_after_its_set_up():
    """The script reads the project's own README: its first bash block must be the set-up + demo line."""
    readme = (SCRIPT.parents[1] / "README.md").read_text()
    first = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert "\n" not in first and first.endswith("&& codehotfix demo") and "python3 -m venv .venv" in first
