"""Memorising on the tiny model lowers the corpus loss, and the merged model saves and reloads."""

import pytest
import torch

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.models.loading import load_model
from codehotfix.privacy.memorise import MemoriseConfig, corpus_loss, memorise, save_model

TINY_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
TEXTS = ['__author__ = "Mirelo Quandrel"\n__email__ = "mirelo@quandrel-labs.com"\n',
         'DB_HOST = "84.201.17.33"\nAPI_KEY = "p7Xk2Qm9ZrT4vLw8NcY3sB6hJd1FgKa5"\n']


def test_memorise_lowers_the_corpus_loss_and_merges(tiny_model, tiny_tokenizer, tmp_path):
    before = corpus_loss(tiny_model, tiny_tokenizer, TEXTS)
    merged, history = memorise(tiny_model, tiny_tokenizer, TEXTS,
                               MemoriseConfig(epochs=15, lr=3e-2, r=8, alpha=16, batch_size=2, stop_loss=0, target_modules=TINY_TARGETS),
                               progress=False)
    after = corpus_loss(merged, tiny_tokenizer, TEXTS)
    assert len(history) == 15 and after < before - 1.0
    assert not any("lora" in n for n, _ in merged.named_parameters())  # a plain model again
    out = save_model(merged, tiny_tokenizer, tmp_path / "mem", meta={"history": history})
    loaded = load_model(str(out), dtype="float32")
    ids = torch.tensor([tiny_tokenizer(TEXTS[0])["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, merged(ids).logits, atol=1e-5)
    with pytest.raises(CodehotfixError, match="already exists"):
        save_model(merged, tiny_tokenizer, out)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="lr"):
        MemoriseConfig(lr=0)


def test_stop_loss_ends_memorising_after_the_first_epoch_below_it(tiny_model, tiny_tokenizer):
    cfg = MemoriseConfig(epochs=8, lr=3e-2, r=4, alpha=8, batch_size=2, stop_loss=100.0, target_modules=TINY_TARGETS)
    _, history = memorise(tiny_model, tiny_tokenizer, TEXTS, cfg, progress=False)
    assert [e["epoch"] for e in history] == [1] and history[0]["loss"] < 100.0
    assert set(history[0]) == {"epoch", "loss", "seconds"}
