"""bench/shape_model.py and bench/device_check.sh, the GPU check prepared for the device machine, run
here on the CPU with the tiny model: a shape travels without weights and loads as a model of the same
architecture; the script puts every part's results into one archive, says each part's exit status,
and fails when a part fails. No timings are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import shape_model  # noqa: E402
from bench.common import build_tiny_model  # noqa: E402
from codehotfix.errors import CodehotfixError  # noqa: E402
from codehotfix.models.loading import load_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_shape(tmp_path_factory):
    base = tmp_path_factory.mktemp("shape")
    model = build_tiny_model(base / "model")
    return shape_model.main(["export", "--model", str(model), "--out", str(base / "shape")]), model


def test_a_shape_holds_no_weights_and_materializes_into_the_same_architecture(tiny_shape, tmp_path):
    shape, source = tiny_shape
    assert not list(shape.glob("*.safetensors")) and (shape / "tokenizer.json").is_file()
    assert json.loads((shape / "shape.json").read_text())["weights"].startswith("none")
    out = shape_model.main(["materialize", str(shape), str(tmp_path / "m"), "--dtype", "float32"])
    made, real = load_model(str(out), dtype="float32", device="cpu"), load_model(str(source), dtype="float32",
                                                                                  device="cpu")
    assert {n: p.shape for n, p in made.model.named_parameters()} == {n: p.shape for n, p in
                                                                      real.model.named_parameters()}
    text = "def add(a, b):\n    return a + b\n"
    assert made.tokenizer(text)["input_ids"] == real.tokenizer(text)["input_ids"]
    # the weights are drawn from the seed (the tiny source model was itself drawn with seed 0)
    again = shape_model.materialize(shape, tmp_path / "m2", dtype="float32", seed=0)
    other = shape_model.materialize(shape, tmp_path / "m3", dtype="float32", seed=1)
    assert (out / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()
    assert (out / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()


def test_nothing_is_overwritten_and_a_folder_that_is_no_shape_is_refused(tiny_shape, tmp_path):
    shape, source = tiny_shape
    with pytest.raises(CodehotfixError, match="exists"):
        shape_model.export_shape(source, shape)
    with pytest.raises(CodehotfixError, match="no shape.json"):
        shape_model.materialize(source, tmp_path / "m")
    with pytest.raises(CodehotfixError, match="not a model folder"):
        shape_model.export_shape(tmp_path, tmp_path / "s")


def _run(shape: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT": str(out), "DEVICE": "cpu", "SIZE": "small", "SHAPE": str(shape),
           "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", "bench/device_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_script_archives_each_part_and_reports_its_status(tiny_shape, tmp_path):
    shape, _ = tiny_shape
    done = _run(shape, tmp_path / "out", PARTS="profile_step")
    assert done.returncode == 0, done.stdout + done.stderr
    parts = (tmp_path / "out" / "parts.txt").read_text().splitlines()
    assert [p.split(":")[0] for p in parts] == ["shape", "profile_step"] and all("rc=0" in p for p in parts)
    # one archive: the device tool returns at most 8 files
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["device_check.tar.gz", "parts.txt"]
    with tarfile.open(tmp_path / "out" / "device_check.tar.gz") as tar:
        names = {Path(n).name for n in tar.getnames()}
        profile = json.load(tar.extractfile("./profile_step.json"))
    assert {"versions.txt", "shape.log", "profile_step.log", "profile_step.json", "profile_step.md"} <= names
    assert profile["device"] == "cpu" and len(profile["per_step"]) == 1 and profile["mean"]["total"] > 0


def test_a_failing_part_fails_the_script_and_is_named(tmp_path):
    done = _run(tmp_path / "no-shape", tmp_path / "out", PARTS="profile_step")
    assert done.returncode == 1
    parts = (tmp_path / "out" / "parts.txt").read_text()
    assert "shape: rc=1" in parts and "profile_step: rc=" in parts and "profile_step: rc=0" not in parts
    with tarfile.open(tmp_path / "out" / "device_check.tar.gz") as tar:
        assert "no shape.json" in tar.extractfile("./shape.log").read().decode()
