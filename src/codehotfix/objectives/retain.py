"""Retain objectives: keep everything but the hotfixed line as the original model had it.

kl_context — KL(p_base ‖ p_hotfixed) of the next-token distributions at the last context positions
    of each case, averaged over positions (the paper's retain term, Yang & Lo, arXiv 2408.05727).
    p_base comes from the same model with the adapter disabled, so no second copy is loaded.
    Param ``positions`` (default 32) is how many trailing context positions are compared.
kl_corpus — the same KL at every position of snippets of ordinary code that have nothing to do with
    the hotfix (a "retain set", as in TOFU, Maini et al. 2024, arXiv 2401.06121, and NPO's retain
    term). The hotfix cases' own contexts only guard the neighbourhood of the fix; a separate corpus
    guards general ability. The loop draws ``batch_size`` snippets per step (seeded).
    The base distributions are cached per snippet as their top ``top_k`` log-probs only (a full
    152k-vocabulary distribution per position would take GBs): the KL is then computed between the
    two distributions coarsened to those k tokens plus one "rest" bin. That is a lower bound on the
    full KL (coarsening never increases a divergence) and equal to it when both models agree on the
    rest; with k = 32 the rest usually holds < 5 % of the base's mass on code.
kl_suffix — the same coarsened KL at the first ``suffix_tokens`` positions after the fixed line,
    given the context and the fixed line: once the fix is written, the model should go on as the base
    model would after it. kl_context guards the positions before the line, kl_corpus unrelated code;
    nothing else constrains what the hotfixed model writes after the line, where the demo's hotfix
    looped (docs/speed.md, "Why the hotfix evaluates longer"). Unlike suffix_ce, the target is the
    base model's distribution, not the snippet's own next tokens, so a snippet that ends right after
    the fix does not teach the model to close the code. The base's top ``top_k`` log-probs are
    computed once per case (``training.reference.CaseReference.suffix``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from codehotfix.errors import ConfigError
from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean
from codehotfix.objectives.preference import log1mexp

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["KLContextObjective", "KLCorpusObjective", "KLSuffixObjective", "topk_kl"]


@OBJECTIVES.register("kl_context")
class KLContextObjective(Objective):
    """Shapes: scores.ctx_logprobs, ref_ctx_logprobs [B, K, V]; ctx_mask [B, K]."""

    family = "retain"
    needs_context = True
    params = {"positions": 32}

    def __call__(self, scores: Scores) -> LossOutput:
        if scores.ctx_logprobs is None or scores.ref_ctx_logprobs is None:
            zero = scores.fixed_logp.sum() * 0.0
            return LossOutput(zero, {"kl": 0.0})
        ref = scores.ref_ctx_logprobs
        kl = (ref.exp() * (ref - scores.ctx_logprobs)).sum(-1)  # [B, K]
        loss = masked_mean(kl, scores.ctx_mask)
        return LossOutput(loss, {"kl": float(loss.detach())})


def topk_kl(logprobs: torch.Tensor, ref_topk: torch.Tensor, ref_index: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) between distributions coarsened to the reference's top-k tokens plus a rest bin.

    Args:
        logprobs: log q, the trained model's log-distributions, [..., V].
        ref_topk: log p of the reference's k likeliest tokens, [..., k].
        ref_index: their token ids, [..., k].

    Returns:
        [...] the coarsened KL per position (exact KL when k = V).
    """
    q_top = logprobs.gather(-1, ref_index)  # [..., k]
    kl_top = (ref_topk.exp() * (ref_topk - q_top)).sum(-1)
    # Rest bin: p_rest·(log p_rest − log q_rest); log of "1 − the top-k mass" via log1mexp(logsumexp).
    log_p_rest = log1mexp(torch.logsumexp(ref_topk, -1).clamp(max=-1e-7))
    log_q_rest = log1mexp(torch.logsumexp(q_top, -1).clamp(max=-1e-7))
    return kl_top + log_p_rest.exp() * (log_p_rest - log_q_rest)


@OBJECTIVES.register("kl_corpus")
class KLCorpusObjective(Objective):
    """Mean coarsened KL(base ‖ hotfixed) over every real position of a retain batch.

    Params:
        corpus: null (the built-in ``codehotfix/data/corpora/retain.jsonl``: ~120 snippets of CPython
            3.11 stdlib code, PSF licence), a JSONL file of {"id", "text"} objects, or a folder of
            source files (each file is one snippet).
        batch_size: snippets per step (default 2).
        max_tokens: each snippet keeps its first this-many tokens (default 128).
        top_k: how many reference log-probs are kept per position (default 32; see module docstring).

    Shapes: scores.retain_logprobs [R, T, V]; retain_mask [R, T]; ref_retain_logp, ref_retain_index [R, T, k].
    """

    family = "retain"
    needs_retain = True
    params = {"corpus": None, "batch_size": 2, "max_tokens": 128, "top_k": 32}

    def check(self) -> None:
        self._integers("kl_corpus", "batch_size", "max_tokens", "top_k")
        if self.max_tokens < 2:
            raise ConfigError(f"kl_corpus: param max_tokens must be >= 2, got {self.max_tokens}")
        if self.corpus is not None and not Path(str(self.corpus)).exists():
            raise ConfigError(f"kl_corpus: param corpus: {self.corpus}: no such file or folder")

    def __call__(self, scores: Scores) -> LossOutput:
        if scores.retain_logprobs is None:
            return LossOutput(scores.fixed_logp.sum() * 0.0, {"kl_corpus": 0.0})
        kl = topk_kl(scores.retain_logprobs, scores.ref_retain_logp, scores.ref_retain_index)  # [R, T]
        loss = masked_mean(kl, scores.retain_mask)
        return LossOutput(loss, {"kl_corpus": float(loss.detach())})


@OBJECTIVES.register("kl_suffix")
class KLSuffixObjective(Objective):
    """Mean coarsened KL(base ‖ hotfixed) over the suffix positions after the fixed line.

    Params:
        suffix_tokens: how many tokens after the fixed line are compared (default 32).
        top_k: how many reference log-probs are kept per position (default 32; see ``topk_kl``).

    Shapes: scores.suffix_logprobs [N, V]; ref_suffix_logp, ref_suffix_index [N, k] (N: the batch's
    real suffix positions; a case without a suffix adds none).
    """

    family = "retain"
    needs_suffix = True
    needs_suffix_distributions = True
    params = {"suffix_tokens": 32, "top_k": 32}

    def check(self) -> None:
        self._integers("kl_suffix", "suffix_tokens", "top_k")

    def __call__(self, scores: Scores) -> LossOutput:
        if scores.suffix_logprobs is None or scores.ref_suffix_logp is None or not len(scores.suffix_logprobs):
            return LossOutput(scores.fixed_logp.sum() * 0.0, {"kl_suffix": 0.0})
        loss = topk_kl(scores.suffix_logprobs, scores.ref_suffix_logp, scores.ref_suffix_index).mean()
        return LossOutput(loss, {"kl_suffix": float(loss.detach())})
