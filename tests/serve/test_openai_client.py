"""The server as real clients use it: the official ``openai`` client against a live uvicorn server on
127.0.0.1 (a random free port, in a thread), streaming and not, both endpoints, with an API key."""

import json
import socket
import threading
import time

import httpx
import openai
import pytest

from codehotfix.deploy.store import HotfixStore
from codehotfix.serve.app import create_app
from codehotfix.serve.engine import EngineConfig, HotfixEngine

KEY = "test-api-key"
PROMPT = "import yaml\n\ndef load(path):\n    with open(path) as f:\n"
TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_loaded_module):
    import uvicorn

    loaded = tiny_loaded_module
    loaded.tokenizer.chat_template = TEMPLATE
    engine = HotfixEngine(loaded, HotfixStore(tmp_path_factory.mktemp("reg"), create=True),
                          EngineConfig(max_new_tokens=32))
    engine.start()
    app = create_app(engine, api_key=KEY, admin_token="admin", served_model_name="tiny", batch_window_s=0.02)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    yield base, openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=60), engine
    server.should_exit = True
    thread.join(timeout=30)


def test_completions_with_logprobs_match_the_engine(live):
    _, client, engine = live
    r = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=8, temperature=0, logprobs=2)
    choice = r.choices[0]
    assert choice.text == engine.generate([PROMPT], max_tokens=8, temperature=0).texts[0]
    assert choice.finish_reason in ("stop", "length") and r.usage.completion_tokens == len(choice.logprobs.tokens)
    assert all(len(top) <= 2 for top in choice.logprobs.top_logprobs)
    assert r.model_extra["hotfix_versions"] == {}


def test_streamed_completions_add_up_to_the_whole_one(live):
    _, client, _ = live
    whole = client.completions.create(model="tiny", prompt=[PROMPT, "def f(x):\n"], max_tokens=10, temperature=0)
    stream = client.completions.create(model="tiny", prompt=[PROMPT, "def f(x):\n"], max_tokens=10, temperature=0,
                                       stream=True, stream_options={"include_usage": True})
    texts, finish, usage = ["", ""], [None, None], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            texts[c.index] += c.text
            finish[c.index] = c.finish_reason or finish[c.index]
    assert texts == [c.text for c in whole.choices] and finish == [c.finish_reason for c in whole.choices]
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_chat_streamed_and_not_with_top_logprobs(live):
    _, client, _ = live
    messages = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "load yaml"}]
    whole = client.chat.completions.create(model="tiny", messages=messages, max_completion_tokens=8, temperature=0,
                                           logprobs=True, top_logprobs=3, seed=1)
    content = whole.choices[0].logprobs.content
    assert whole.choices[0].message.role == "assistant" and len(content) == whole.usage.completion_tokens
    assert all(len(t.top_logprobs) == 3 and t.top_logprobs[0].logprob >= t.logprob - 1e-6 for t in content)
    stream = client.chat.completions.create(model="tiny", messages=messages, max_completion_tokens=8, temperature=0,
                                            stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_sampling_fields_are_honoured(live):
    _, client, _ = live
    kw = dict(model="tiny", prompt=PROMPT, max_tokens=8, temperature=1.0, n=2, seed=5)
    a, b = client.completions.create(**kw), client.completions.create(**kw)
    assert [c.text for c in a.choices] == [c.text for c in b.choices] and len(a.choices) == 2
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0).choices[0].text
    stopped = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0, stop=[greedy[3:5]])
    assert stopped.choices[0].text == greedy[:greedy.find(greedy[3:5])] and stopped.choices[0].finish_reason == "stop"
    penalised = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0,
                                          presence_penalty=2.0, frequency_penalty=2.0)
    assert penalised.choices[0].text  # accepted; the decode tests check the effect


def test_unsupported_and_unknown_fields_are_refused_by_name(live):
    _, client, _ = live
    with pytest.raises(openai.BadRequestError, match="tools / tool_choice are not supported"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}],
                                       tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(openai.UnprocessableEntityError, match="body.frobnicate"):
        client.completions.create(model="tiny", prompt="x", extra_body={"frobnicate": 1})
    with pytest.raises(openai.UnprocessableEntityError, match="body.logprobs"):
        client.completions.create(model="tiny", prompt="x", logprobs=6)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.completions.create(model="gpt-4", prompt="x")


def test_inference_needs_the_api_key(live):
    base, _, _ = live
    r = httpx.post(f"{base}/v1/completions", json={"prompt": "x", "max_tokens": 2})
    assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    assert httpx.get(f"{base}/v1/models").status_code == 401
    wrong = openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model="tiny", prompt="x", max_tokens=2)
    with pytest.raises(openai.AuthenticationError):  # the admin token is not an API key
        openai.OpenAI(base_url=f"{base}/v1", api_key="admin", max_retries=0).models.list()
    assert httpx.get(f"{base}/health").status_code == 200


def test_concurrent_clients_share_batches(live):
    base, client, _ = live
    before = httpx.get(f"{base}/health").json()["batching"]
    errors = []

    def one(i):
        try:
            client.completions.create(model="tiny", prompt=f"def f{i}(x):\n", max_tokens=16, temperature=0)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = httpx.get(f"{base}/health").json()["batching"]
    assert not errors and after["requests"] - before["requests"] == 8
    assert after["multi_request_batches"] > before["multi_request_batches"]
    assert "codehotfix_batch_requests_bucket" in httpx.get(f"{base}/metrics").text


def test_without_an_api_key_inference_is_open_and_a_warning_is_logged(live, monkeypatch, caplog):
    from fastapi.testclient import TestClient

    _, _, engine = live
    monkeypatch.delenv("CODEHOTFIX_API_KEY", raising=False)
    with caplog.at_level("WARNING", logger="codehotfix.serve"):
        app = create_app(engine)
    assert "no API key (CODEHOTFIX_API_KEY)" in caplog.text
    assert TestClient(app).post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200
    monkeypatch.setenv("CODEHOTFIX_API_KEY", "from-env")
    closed = TestClient(create_app(engine))
    assert closed.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 401
    ok = closed.post("/v1/completions", json={"prompt": "x", "max_tokens": 2},
                     headers={"Authorization": "Bearer from-env"})
    assert ok.status_code == 200


def test_serve_reads_the_api_key_file(tmp_path, tiny_model_dir, monkeypatch):
    import uvicorn
    from fastapi.testclient import TestClient

    from codehotfix.cli import main

    key = tmp_path / "key"
    key.write_text("file-key\n")
    key.chmod(0o600)
    captured = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.update(app=app))
    main(["serve", "--model", str(tiny_model_dir), "--registry", str(tmp_path / "reg"), "--api-key-file", str(key),
          "--dtype", "float32", "--threads", "1", "--max-batch-rows", "4"])
    client = TestClient(captured["app"])
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer file-key"}).status_code == 200
    assert captured["app"].state.batcher.max_rows == 4


def test_raw_stream_is_sse_with_the_versions_header_and_done(live):
    base, _, _ = live
    body = {"prompt": PROMPT, "max_tokens": 4, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{base}/v1/completions", json=body,
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["X-Hotfix-Versions"] == "none"
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "text_completion"
    # A client that leaves mid-stream does not break the server for the next one.
    with httpx.stream("POST", f"{base}/v1/completions", json={**body, "max_tokens": 32},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as r:
        next(r.iter_lines())
    again = httpx.post(f"{base}/v1/completions", json={"prompt": "x", "max_tokens": 2},
                       headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert again.status_code == 200
