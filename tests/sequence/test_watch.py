"""``codehotfix watch`` on the tiny model: a generated repository receives fix commits while a server
runs; a hotfix whose check fails is staged and left off, one that passes is enabled, and the server's
completions change only after the passing stage. Every decision is one audit line; a dry run changes
nothing."""

import importlib.util
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from codehotfix.cli import main
from codehotfix.config import load_config
from codehotfix.data.miners import MinerConfig
from codehotfix.deploy.canary import CanaryConfig
from codehotfix.deploy.store import HotfixStore
from codehotfix.errors import ConfigError
from codehotfix.models.loading import load_model
from codehotfix.sequence.watch import Watcher, WatchConfig
from codehotfix.serve.app import create_app
from codehotfix.serve.engine import EngineConfig, HotfixEngine

_spec = importlib.util.spec_from_file_location("gitrepo", Path(__file__).parents[1] / "assets" / "gitrepo.py")
gitrepo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gitrepo)

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CALC = '''import math


def area(r):
    return math.pi * r ** 3


def clamp(x, lo, hi):
    if x < lo and x > hi:
        return lo
    return min(x, hi)


def double(x):
    return x + x + x
'''
# Enough training for the tiny model to move a one-case hotfix's margin well past the canary's 1 nat
# (about 4 nats for the clamp fix below) — yet it then writes "    return hi)" for "    return max(x, hi)",
# which the greedy check refuses; twice the epochs make it write the fix.
TRAIN = ["training.epochs=30", "training.lr=0.01"]
TRAIN_TO_WRITE = ["training.epochs=60", "training.lr=0.01"]


def _fix(repo, old, new, message):
    text = (repo.path / "app" / "calc.py").read_text()
    prompt = text.split(old)[0]  # the code before the buggy line: the mined case's prefix
    repo.edit("app/calc.py", old, new)
    repo.commit(message)
    return prompt


@pytest.fixture()
def setup(tmp_path, tiny_model_dir):
    repo = gitrepo.Repo(tmp_path / "repo")
    repo.write("app/calc.py", CALC)
    repo.commit("Initial import")
    store = HotfixStore(tmp_path / "reg", create=True)

    def load():
        return load_model(str(tiny_model_dir), dtype="float32", threads=1)

    engine = HotfixEngine(load(), store, EngineConfig(max_new_tokens=16))
    engine.start()
    client = TestClient(create_app(engine, admin_token=TOKEN))

    def sync(decision):
        assert client.post("/admin/sync", headers=AUTH).status_code == 200

    def watcher(min_delta=1.0, min_greedy_fixed=1.0, train=TRAIN):
        canary = CanaryConfig(min_delta=min_delta, min_greedy_fixed=min_greedy_fixed)
        return Watcher([repo.path], store, load_config(None, train), WatchConfig(canary=canary),
                       MinerConfig(), tmp_path / "state", load, notify=sync)

    return repo, store, client, watcher, tmp_path / "state"


def _complete(client, prompt, max_tokens=8):
    r = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    assert r.status_code == 200
    return r.json()["choices"][0]["text"], r.headers["X-Hotfix-Versions"]


def test_the_server_changes_only_after_a_passing_stage(setup):
    repo, store, client, watcher, state = setup
    first = _fix(repo, "r ** 3", "r ** 2", "Fix area exponent")
    second_prompt = (repo.path / "app" / "calc.py").read_text().split("    return min(x, hi)")[0]
    before = _complete(client, second_prompt)

    # A check that cannot pass: the hotfix is staged, not enabled, and the server is untouched.
    (rejected,) = watcher(min_delta=1e6).run_once()
    assert rejected["decision"] == "rejected" and rejected["reasons"] == ["canary check failed"]
    assert store.versions("watch-0001") == ["v1"] and store.enabled() == {}
    assert client.post("/admin/sync", headers=AUTH).status_code == 200  # the server reads the registry again
    assert _complete(client, second_prompt) == before
    assert _complete(client, first)[1] == "none"

    assert _fix(repo, "    return min(x, hi)", "    return max(x, hi)", "Fix clamp bound") == second_prompt
    (enabled,) = watcher(train=TRAIN_TO_WRITE).run_once()  # only the new fix: the first was decided already
    assert enabled["decision"] == "enabled", enabled["checks"]
    assert enabled["hotfix"] == "watch-0002" and len(enabled["cases"]) == 1 and enabled["checks"]["canary"]["passed"]
    canary = enabled["checks"]["canary"]
    assert canary["greedy_fixed"] == 1.0 and canary["cases"][0]["greedy"] == "    return max(x, hi)"
    assert store.enabled() == {"watch-0002": "v1"}
    text, versions = _complete(client, second_prompt)
    assert versions == "watch-0002=v1" and text != before[0]
    assert _complete(client, second_prompt, 16)[0].startswith("    return max(x, hi)\n")  # what the check saw

    lines = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert [d["decision"] for d in lines] == ["rejected", "enabled"]
    assert lines[1]["commits"] == [repo.git("rev-parse", "HEAD")]
    assert watcher().run_once() == []  # nothing new: no decision, no line
    assert len((state / "audit.jsonl").read_text().splitlines()) == 2


def test_a_rising_margin_that_writes_a_new_bug_is_rejected(setup):
    repo, store, client, watcher, state = setup
    prompt = _fix(repo, "    return min(x, hi)", "    return max(x, hi)", "Fix clamp bound")
    before = _complete(client, prompt)
    (rejected,) = watcher().run_once()
    canary = rejected["checks"]["canary"]
    assert rejected["decision"] == "rejected" and rejected["reasons"] == ["canary check failed"]
    assert canary["fraction"] == 1.0 and canary["mean_rise"] >= 1.0  # the margin check alone would enable it
    (case,) = canary["cases"]
    assert canary["greedy_fixed"] == 0.0 and case["greedy_label"] != "fixed" and case["greedy"]
    assert "greedy completion is the fixed line on 0%" in canary["reasons"][0]
    assert store.enabled() == {} and _complete(client, prompt) == before
    line = json.loads((state / "audit.jsonl").read_text().splitlines()[-1])
    assert line["checks"]["canary"]["cases"][0]["greedy"] == case["greedy"]


def test_a_dry_run_shows_the_batch_and_changes_nothing(setup, capsys):
    repo, store, client, watcher, state = setup
    _fix(repo, "x + x + x", "x * 2 + x", "Fix double")
    (plan,) = watcher().run_once(dry_run=True)
    assert plan["decision"] == "would_train" and plan["hotfix"] == "watch-0001" and len(plan["cases"]) == 1
    assert not state.exists() and store.names() == []
    main(["watch", str(repo.path), "--registry", str(store.root), "--dry-run"])
    assert json.loads(capsys.readouterr().out)["decision"] == "would_train"
    assert not state.exists() and not (store.root / ".watch").exists() and store.names() == []


def test_watch_refuses_humaneval_without_allow_exec():
    with pytest.raises(ConfigError, match="allow-exec"):
        WatchConfig(humaneval=3)


def test_the_watch_canary_asks_for_the_fixed_line_by_default(setup, monkeypatch):
    repo, store, client, watcher, state = setup
    assert WatchConfig().canary.min_greedy_fixed == 1.0 and CanaryConfig().min_greedy_fixed == 0.0
    seen = []

    class Stop(Exception):
        pass

    def capture(repos, store, hotfix_cfg, cfg, *args, **kwargs):
        seen.append(cfg)
        raise Stop

    monkeypatch.setattr("codehotfix.sequence.watch.Watcher", capture)
    for extra, want in (([], WatchConfig().canary.min_greedy_fixed), (["--canary-min-greedy-fixed", "0.5"], 0.5)):
        with pytest.raises(Stop):
            main(["watch", str(repo.path), "--registry", str(store.root), "--dry-run", *extra])
        assert seen.pop().canary.min_greedy_fixed == want
    with pytest.raises(SystemExit) as e:
        main(["watch", str(repo.path), "--registry", str(store.root), "--dry-run", "--canary-min-greedy-fixed", "2"])
    assert e.value.code != 0
