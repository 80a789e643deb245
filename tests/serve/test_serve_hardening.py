"""Issue 14 regressions for the server: bounded numbers, canary paths confined to the hotfix folder,
prompts checked against the model's context, and the admin token kept off the command line."""

import json
import os
import warnings

import pytest
from fastapi.testclient import TestClient

from codehotfix.cli import main
from codehotfix.cli.serve import read_admin_token
from codehotfix.deploy.store import HotfixStore
from codehotfix.errors import CodehotfixError
from codehotfix.serve.app import create_app
from codehotfix.serve.engine import EngineConfig, HotfixEngine

AUTH = {"Authorization": "Bearer t0k"}


@pytest.fixture()
def client(tmp_path, tiny_loaded):
    engine = HotfixEngine(tiny_loaded, HotfixStore(tmp_path / "reg", create=True), EngineConfig(max_new_tokens=32))
    engine.start()
    return TestClient(create_app(engine, admin_token="t0k", max_body_bytes=1 << 16, served_model_name="tiny"))


@pytest.mark.parametrize("field, value", [("seed", 2**70), ("seed", -1), ("max_tokens", 2**70),
                                          ("temperature", 1e300), ("top_p", 0), ("n", 2**40)])
def test_out_of_range_numbers_are_422_naming_the_field(client, field, value):
    r = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2, field: value})
    assert r.status_code == 422 and f"body.{field}" in r.json()["error"]["message"]


def test_the_largest_seed_is_served(client):
    r = client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2, "seed": 2**63 - 1})
    assert r.status_code == 200, r.text


def test_admin_load_refuses_canaries_outside_the_hotfix_folder(client, trained_hotfixes):
    path = str(trained_hotfixes["a"])
    for canaries in ("/etc", "/etc/passwd", "../b/cases.jsonl"):
        r = client.post("/admin/hotfixes", json={"path": path, "name": "a", "canaries": canaries}, headers=AUTH)
        assert r.status_code == 400 and "must be a file inside the hotfix folder" in r.json()["error"]["message"]
    r = client.post("/admin/hotfixes", json={"path": path, "name": "a", "canaries": "nope.jsonl"}, headers=AUTH)
    assert r.status_code == 409 and "no readable cases file" in r.json()["error"]["message"]
    r = client.post("/admin/hotfixes", json={"path": path, "name": "a", "canaries": "cases.jsonl"}, headers=AUTH)
    assert r.status_code == 201, r.text


def test_a_prompt_beyond_the_models_context_is_400(client):
    prompt = "x = 1\n" * 300  # ~1,800 tokens on the 512-position tiny model
    r = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 8})
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "context of 512 tokens" in message and "max_tokens is 8" in message
    r = client.post("/v1/completions", json={"prompt": "x = 1\n" * 4, "max_tokens": 8})
    assert r.status_code == 200


def test_the_admin_token_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    f = tmp_path / "token"
    f.write_text("from-file\n")
    f.chmod(0o600)
    monkeypatch.setenv("CODEHOTFIX_ADMIN_TOKEN", "from-env")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_admin_token(f, None) == "from-file"
        assert read_admin_token(None, None) == "from-env"
    with pytest.warns(UserWarning, match="visible to every local user in `ps`"):
        assert read_admin_token(None, "flag") == "flag"
    f.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by other users"):
        read_admin_token(f, None)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CodehotfixError, match="empty"):
        read_admin_token(tmp_path / "empty", None)


def test_serve_reads_the_admin_token_file(tmp_path, tiny_model_dir, monkeypatch):
    import uvicorn

    token = tmp_path / "token"
    token.write_text("filetoken")
    os.chmod(token, 0o600)
    captured = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.update(app=app))
    main(["serve", "--model", str(tiny_model_dir), "--registry", str(tmp_path / "reg"), "--admin-token-file",
          str(token), "--dtype", "float32", "--threads", "1"])
    client = TestClient(captured["app"])
    assert client.get("/admin/hotfixes", headers={"Authorization": "Bearer filetoken"}).status_code == 200
    assert json.loads(client.get("/health").text)["status"] == "ok"
