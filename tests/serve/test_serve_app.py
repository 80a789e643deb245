"""The HTTP server on the tiny model: OpenAI shapes, version tags, admin auth, validation, metrics,
canary refusal, and swaps under concurrent requests without a failed request."""

import json
import threading

import pytest
from fastapi.testclient import TestClient

from codehotfix.cli import main
from codehotfix.data.cases import read_cases
from codehotfix.deploy.canary import CanaryConfig
from codehotfix.deploy.store import HotfixStore
from codehotfix.serve.app import create_app
from codehotfix.serve.engine import EngineConfig, HotfixEngine

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def served(tmp_path, tiny_loaded, trained_hotfixes, zero_hotfix):
    store = HotfixStore(tmp_path / "reg", create=True)
    store.add(trained_hotfixes["a"], name="a")
    store.add(trained_hotfixes["b"], name="b")
    store.add(zero_hotfix, name="zero", canaries=zero_hotfix / "cases.jsonl")
    # On the random tiny model, stacking a with b shrinks b's effect on one of its two cases to ~0
    # (a real interaction, reported by bench/stacking.py); half the cases at 0.5 nats still separates
    # b (one case +2.2) from the zero adapter (every case 0.000).
    canary = CanaryConfig(min_delta=0.5, min_fraction=0.5)
    engine = HotfixEngine(tiny_loaded, store, EngineConfig(max_new_tokens=32, canary=canary))
    engine.start()
    client = TestClient(create_app(engine, admin_token=TOKEN, max_body_bytes=4096, served_model_name="tiny"))
    return client, engine, store


def _complete(client, prompt, **extra):
    return client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 8, "temperature": 0, **extra})


def test_completion_chat_models_and_health_shapes(served):
    client, engine, _ = served
    r = _complete(client, ["def f(x):\n", "import yaml\n"], n=2, temperature=0.8, seed=1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == "tiny" and len(body["choices"]) == 4
    assert all(c["finish_reason"] in ("stop", "length") for c in body["choices"])
    assert body["usage"]["completion_tokens"] > 0 and body["hotfix_versions"] == {}
    assert r.headers["X-Hotfix-Versions"] == "none"
    assert client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 400
    engine.tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x = 1"}],
                                                     "max_tokens": 4, "temperature": 0})
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["role"] == "assistant"
    assert client.get("/v1/models").json()["data"][0]["id"] == "tiny"
    assert client.get("/health").json()["status"] == "ok"


def test_validation_errors_are_clear_4xx(served):
    client, _, _ = served
    r = _complete(client, "x", max_tokens=0)
    assert r.status_code == 422 and "body.max_tokens" in r.json()["error"]["message"]
    r = _complete(client, "x", max_token=3)  # a typo is refused, not silently ignored
    assert r.status_code == 422 and "body.max_token: Extra inputs are not permitted" in r.json()["error"]["message"]
    assert _complete(client, "x", n=100).status_code == 422
    assert _complete(client, "x", stop=["a", "b", "c", "d", "e"]).status_code == 422
    assert client.post("/v1/completions", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    r = _complete(client, "x" * 5000)
    assert r.status_code == 413 and "limit is 4096" in r.json()["error"]["message"]
    r = _complete(client, "x", max_tokens=64)
    assert r.status_code == 400 and "above this server's limit 32" in r.json()["error"]["message"]
    r = _complete(client, "x", echo=True)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("echo: true is not supported")
    assert _complete(client, "x", model="gpt-4").status_code == 404


def test_admin_needs_the_token(served, tiny_loaded):
    client, engine, _ = served
    r = client.get("/admin/hotfixes")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/admin/hotfixes", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/admin/hotfixes/a/enable", headers={"Authorization": "Basic abc"}).status_code == 401
    listing = client.get("/admin/hotfixes", headers=AUTH).json()
    assert {h["name"] for h in listing["hotfixes"]} == {"a", "b", "zero"}
    closed = TestClient(create_app(engine, admin_token=""))
    r = closed.get("/admin/hotfixes", headers=AUTH)
    assert r.status_code == 403 and "admin API disabled" in r.json()["error"]["message"]


def test_enable_tags_responses_refuses_a_dead_adapter_and_rolls_back(served, trained_hotfixes):
    client, engine, store = served
    case = read_cases(trained_hotfixes["a"] / "cases.jsonl")[0]
    before = _complete(client, case.prefix).json()
    r = client.post("/admin/hotfixes/a/enable", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["hotfix_versions"] == {"a": "v1"} and r.json()["canary"]["a"]["passed"]
    after = _complete(client, case.prefix)
    assert after.json()["hotfix_versions"] == {"a": "v1"} and after.headers["X-Hotfix-Versions"] == "a=v1"
    assert engine.store.entry("a").evals()[f"canary-{engine.checksum[:12]}"]["passed"] is True

    refused = client.post("/admin/hotfixes/zero/enable", headers=AUTH)
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "canary_failed"
    assert refused.json()["error"]["canary"]["fraction"] == 0.0
    assert store.enabled() == {"a": "v1"} and engine.hotfix_versions == {"a": "v1"}
    assert _complete(client, case.prefix).json()["choices"] == after.json()["choices"]  # old set still served

    enabled_b = client.post("/admin/hotfixes/b/enable", headers=AUTH)
    assert enabled_b.json().get("hotfix_versions") == {"a": "v1", "b": "v1"}, enabled_b.text
    assert client.post("/admin/hotfixes/a/disable", headers=AUTH).json()["hotfix_versions"] == {"b": "v1"}
    assert client.post("/admin/rollback", headers=AUTH).json()["hotfix_versions"] == {"a": "v1", "b": "v1"}
    assert client.post("/admin/rollback", json={"name": "b"}, headers=AUTH).json()["hotfix_versions"] == {"a": "v1"}
    client.post("/admin/rollback", headers=AUTH)
    assert engine.hotfix_versions == {} and store.enabled() == {}
    assert _complete(client, case.prefix).json()["choices"] == before["choices"]  # back to the base exactly
    assert client.post("/admin/hotfixes/nope/enable", headers=AUTH).status_code == 404
    assert client.post("/admin/hotfixes/b/disable", headers=AUTH).status_code == 409

    metrics = client.get("/metrics").text
    assert 'codehotfix_swaps_total{action="enable",outcome="canary_failed"} 1.0' in metrics
    assert 'codehotfix_swaps_total{action="rollback",outcome="ok"} 3.0' in metrics
    assert 'codehotfix_requests_total{route="/v1/completions",status="200"}' in metrics
    assert "codehotfix_hotfix_active{" not in metrics  # nothing served now


def test_load_then_enable_through_the_admin_api(served, trained_hotfixes):
    client, engine, _ = served
    r = client.post("/admin/hotfixes", json={"path": str(trained_hotfixes["b"]), "name": "b"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["version"] == "v2"
    assert client.post("/admin/hotfixes/b/enable", json={"version": "v2"}, headers=AUTH).status_code == 200
    assert 'codehotfix_hotfix_active{name="b",version="v2"} 1.0' in client.get("/metrics").text
    bad = client.post("/admin/hotfixes", json={"path": "/nonexistent", "name": "x"}, headers=AUTH)
    assert bad.status_code == 409 and "not a hotfix folder" in bad.json()["error"]["message"]
    assert client.post("/admin/hotfixes", json={"path": "/x", "name": "a.b"}, headers=AUTH).status_code == 422


def test_swaps_during_concurrent_requests_fail_none(served, trained_hotfixes):
    """Four client threads complete the same hotfix prompt while the main thread enables a hotfix and
    rolls it back twice. Every request succeeds, and within one version tag every greedy completion
    is identical: the tag names the adapters that produced it."""
    client, engine, _ = served
    prompt = read_cases(trained_hotfixes["a"] / "cases.jsonl")[0].prefix
    results, stop = [], threading.Event()

    def worker():
        while not stop.is_set():
            r = _complete(client, prompt)
            results.append((r.status_code, json.dumps(r.json().get("hotfix_versions")), r.json()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            assert client.post("/admin/hotfixes/a/enable", headers=AUTH).status_code == 200
            assert client.post("/admin/rollback", headers=AUTH).status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert results and all(code == 200 for code, _, _ in results)
    by_version = {}
    for _, tag, body in results:
        by_version.setdefault(tag, set()).add(body["choices"][0]["text"])
    assert set(by_version) <= {"{}", '{"a": "v1"}'}
    assert all(len(texts) == 1 for texts in by_version.values())


def test_serve_command_builds_the_app(tmp_path, tiny_model_dir, trained_hotfixes, monkeypatch, capsys):
    import uvicorn

    reg = tmp_path / "reg"
    main(["hotfix", "add", str(trained_hotfixes["a"]), "--registry", str(reg), "--name", "a"])
    capsys.readouterr()
    main(["hotfix", "enable", "a", "--registry", str(reg), "--model", str(tiny_model_dir), "--dtype", "float32"])
    enabled = json.loads(capsys.readouterr().out)
    assert enabled["enabled"] == {"a": "v1"} and enabled["canary"]["a"]["passed"] is True
    captured = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.update(app=app, **kw))
    main(["serve", "--model", str(tiny_model_dir), "--registry", str(reg), "--port", "8123", "--admin-token", "t",
          "--dtype", "float32", "--threads", "1"])
    assert captured["port"] == 8123 and captured["host"] == "127.0.0.1"
    client = TestClient(captured["app"])
    assert client.get("/health").json()["hotfix_versions"] == {"a": "v1"}
    assert "serving" in capsys.readouterr().out


def test_a_refused_first_hotfix_leaves_the_base_model_serving(tmp_path, tiny_loaded, zero_hotfix, trained_hotfixes):
    from codehotfix.deploy.canary import CanaryFailed

    store = HotfixStore(tmp_path / "reg", create=True)
    store.add(zero_hotfix, name="zero", canaries=zero_hotfix / "cases.jsonl")
    store.add(trained_hotfixes["a"], name="a")
    engine = HotfixEngine(tiny_loaded, store)
    engine.start()
    before = engine.generate(["import yaml\n"], max_tokens=8, temperature=0)
    with pytest.raises(CanaryFailed, match="canary of zero v1 shows no effect"):
        engine.enable("zero")
    assert engine.hotfix_versions == {} and store.enabled() == {} and store.history() == []
    assert engine.generate(["import yaml\n"], max_tokens=8, temperature=0).texts == before.texts
    assert not hasattr(engine.model, "peft_config")  # the refused adapter was the only one: plain base again
    assert engine.enable("a")["hotfix_versions"] == {"a": "v1"}
    assert list(engine.model.peft_config) == ["a@v1"]
