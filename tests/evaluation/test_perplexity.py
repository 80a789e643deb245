"""Perplexity base vs hotfixed: identical under a zero LoRA, equal to a direct computation (windows
included) under a perturbed one, and corpora from the package, JSONL and folders."""

import ast
import json
import math

import pytest
import torch
from tiny_model import lora, prefix_tuned

from codehotfix.cli import main
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.perplexity import CorpusText, load_corpus, run_perplexity


TEXTS = [CorpusText("a", "def add(a, b):\n    return a + b\n" * 3),
         CorpusText("b", "import logging\nlogger = logging.getLogger(__name__)\nlogger.warning('disk full')\n"),
         CorpusText("c", "class Config:\n    def __init__(self, items=None):\n        self.items = items or []\n")]


def _direct_nll(model, tokenizer, text, window):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    total, n = 0.0, 0
    for s in range(0, len(ids), window):
        w = torch.tensor([ids[s:s + window]])
        if w.shape[1] < 2:
            continue
        with torch.no_grad():
            logits = model(input_ids=w).logits[0, :-1].float()
        total += float(torch.nn.functional.cross_entropy(logits, w[0, 1:], reduction="sum"))
        n += w.shape[1] - 1
    return total, n


def test_builtin_corpus_is_parseable_stdlib_code():
    name, texts = load_corpus()
    assert name == "heldout_code" and len(texts) == 40 and len({t.id for t in texts}) == 40
    for t in texts:
        ast.parse(t.text)
        assert t.source["license"] == "PSF-2.0"


def test_zero_lora_gives_identical_perplexity(tiny_model, tiny_tokenizer):
    result = run_perplexity(lora(tiny_model, perturb=False), tiny_tokenizer, TEXTS, max_tokens=16,
                            n_resamples=200, progress=False)
    assert result["base"] == result["hotfixed"] and result["relative_change"] == 0.0
    assert result["ci95"] == [0.0, 0.0] and result["wilcoxon"]["texts_changed"] == 0


def test_perturbed_lora_matches_a_direct_windowed_computation(tiny_model, tiny_tokenizer):
    model = lora(tiny_model, perturb=True)
    result = run_perplexity(model, tiny_tokenizer, TEXTS, max_tokens=16, batch_size=2, n_resamples=500,
                            progress=False)
    nll_hot = [_direct_nll(model, tiny_tokenizer, t.text, 16) for t in TEXTS]
    with model.disable_adapter():
        nll_base = [_direct_nll(model, tiny_tokenizer, t.text, 16) for t in TEXTS]
    tokens = sum(n for _, n in nll_base)
    assert result["tokens"] == tokens and [r["tokens"] for r in result["records"]] == [n for _, n in nll_base]
    assert result["base"] == pytest.approx(math.exp(sum(x for x, _ in nll_base) / tokens), rel=1e-4)
    assert result["hotfixed"] == pytest.approx(math.exp(sum(x for x, _ in nll_hot) / tokens), rel=1e-4)
    assert result["relative_change"] == pytest.approx(result["hotfixed"] / result["base"] - 1)
    assert result["relative_change"] != 0
    lo, hi = result["ci95"]
    assert lo <= hi and lo <= result["relative_change"] <= hi


def test_no_adapter_reports_base_only(tiny_model, tiny_tokenizer):
    result = run_perplexity(tiny_model, tiny_tokenizer, TEXTS[:2], progress=False)
    assert result["base"] > 1 and result["hotfixed"] is None and result["ci95"] is None


def test_user_corpora_and_errors(tmp_path):
    good = tmp_path / "c.jsonl"
    good.write_text(json.dumps({"id": "x", "text": "a = 1\n", "source": {"repo": "r"}}) + "\n")
    assert load_corpus(good)[1][0].source == {"repo": "r"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "text": "a", "lang": "py"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: unknown field\(s\) 'lang'"):
        load_corpus(bad)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "m.py").write_text("x = 1\n")
    assert [t.id for t in load_corpus(tmp_path / "d")[1]] == ["m.py"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .py files"):
        load_corpus(tmp_path / "empty")
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "missing.jsonl")


def test_cli_perplexity(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "ppl.json"
    main(["perplexity", "--model", str(tiny_model_dir), "--limit", "4", "--max-tokens", "64", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["kind"] == "perplexity" and data["corpus"] == "heldout_code" and len(data["records"]) == 4
    assert data["hotfixed"] is None and data["tokens"] == sum(r["tokens"] for r in data["records"])
    assert set(data["records"][0]) == {"id", "tokens", "base_nll", "hotfixed_nll"}


def test_prefix_tuning_is_refused_rather_than_measured_as_the_base(tiny_model, tiny_tokenizer):
    with pytest.raises(ConfigError, match="prefix/prompt-tuning"):
        run_perplexity(prefix_tuned(tiny_model), tiny_tokenizer, TEXTS[:1], progress=False)
