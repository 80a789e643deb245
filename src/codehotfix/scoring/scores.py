"""``Scores``: the token log-probs one scoring pass produces, the one input every objective takes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Scores"]


@dataclass
class Scores:
    """What the objectives consume; optional fields are None unless an objective needs them.

    Shapes: fixed_logp/buggy_logp/suffix_logp [B, L] (log-prob of each target token, 0 where masked);
    buggy_div_mask/buggy_diff_mask [B, L] the buggy tokens from the divergence to the line's end / to
    the suffix both lines share (see ``Batch``);
    ctx_token_logp [B, C-1] (column c: the context token after column c, given the context up to c);
    ctx_logprobs/ref_ctx_logprobs [B, K, V] full log-distributions at the last context positions;
    ref_fixed_logp/ref_buggy_logp [B, L] the base model's token log-probs of the two lines;
    retain_logprobs [R, T, V], retain_mask [R, T], ref_retain_logp/ref_retain_index [R, T, k] for a
    retain-corpus batch (see ``codehotfix.training.retain``);
    suffix_logprobs [N, V] full log-distributions at the N real suffix positions of the batch (the
    states that predict each suffix token, in ``suffix_mask``'s row-major order), ref_suffix_logp/
    ref_suffix_index [N, k] the base model's top-k there (``kl_suffix``).
    """

    fixed_logp: torch.Tensor
    fixed_mask: torch.Tensor
    buggy_logp: torch.Tensor
    buggy_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    buggy_diff_mask: torch.Tensor | None = None
    ctx_logprobs: torch.Tensor | None = None
    ctx_mask: torch.Tensor | None = None
    ref_ctx_logprobs: torch.Tensor | None = None
    suffix_logp: torch.Tensor | None = None
    suffix_mask: torch.Tensor | None = None
    ctx_token_logp: torch.Tensor | None = None
    ctx_token_mask: torch.Tensor | None = None
    ref_fixed_logp: torch.Tensor | None = None
    ref_buggy_logp: torch.Tensor | None = None
    retain_logprobs: torch.Tensor | None = None
    retain_mask: torch.Tensor | None = None
    ref_retain_logp: torch.Tensor | None = None
    ref_retain_index: torch.Tensor | None = None
    suffix_logprobs: torch.Tensor | None = None
    ref_suffix_logp: torch.Tensor | None = None
    ref_suffix_index: torch.Tensor | None = None
