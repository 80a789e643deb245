"""Learn objectives: make the model write the fixed line.

fixed_ce — cross-entropy of the fixed line's tokens (including its newline) given the context,
    averaged over tokens. The paper's "learn" loss on the fixed line (Yang & Lo, arXiv 2408.05727).
snippet_ce — cross-entropy over the whole fixed snippet: the context tokens, the fixed line and the
    first ``suffix_tokens`` tokens of the suffix, averaged over tokens. The paper's alternative of
    fine-tuning on the fixed file region rather than on the line alone (Yang & Lo, §3); it also keeps
    the surrounding code likely, at the price of spending most of the gradient on tokens that did not
    change.
suffix_ce — cross-entropy of the first ``suffix_tokens`` tokens after the fixed line, averaged over
    tokens: the fixed code's own continuation, so the model ends the fixed line and goes on with the
    code (added beside fixed_ce; the context's tokens are left out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, masked_mean

if TYPE_CHECKING:  # annotations only: importing scoring at run time would load transformers with the config
    from codehotfix.scoring import Scores

__all__ = ["FixedLineCEObjective", "SnippetCEObjective", "SuffixCEObjective"]


@OBJECTIVES.register("fixed_ce")
class FixedLineCEObjective(Objective):
    """CE = −mean_t log p(fixed_t | context, fixed_<t). Shapes: scores.fixed_logp, fixed_mask [B, L]."""

    family = "learn"

    def __call__(self, scores: Scores) -> LossOutput:
        ce = -masked_mean(scores.fixed_logp, scores.fixed_mask)
        return LossOutput(ce, {"ce_fixed": float(ce.detach())})


@OBJECTIVES.register("snippet_ce")
class SnippetCEObjective(Objective):
    """CE = −mean over every token t of (context, fixed line, suffix[:suffix_tokens]) of log p(t | before).

    Params:
        suffix_tokens: how many suffix tokens after the fixed line are scored (default 64; 0: none).

    Shapes: scores.ctx_token_logp/ctx_token_mask [B, C-1] (context token c+1 given tokens ≤ c);
    fixed_logp/fixed_mask and suffix_logp/suffix_mask [B, L].
    """

    family = "learn"
    needs_suffix = True
    needs_context_tokens = True
    params = {"suffix_tokens": 64}

    def check(self) -> None:
        self._integers("snippet_ce", "suffix_tokens", minimum=0)

    def __call__(self, scores: Scores) -> LossOutput:
        parts = [(scores.fixed_logp, scores.fixed_mask)]
        if scores.ctx_token_logp is not None:
            parts.append((scores.ctx_token_logp, scores.ctx_token_mask))
        if scores.suffix_logp is not None:
            parts.append((scores.suffix_logp, scores.suffix_mask))
        total = sum((lp * m.to(lp.dtype)).sum() for lp, m in parts)
        count = sum(m.sum() for _, m in parts)
        ce = -total / torch.as_tensor(count, dtype=scores.fixed_logp.dtype).clamp(min=1.0)
        return LossOutput(ce, {"ce_snippet": float(ce.detach())})


@OBJECTIVES.register("suffix_ce")
class SuffixCEObjective(Objective):
    """CE = −mean over the first ``suffix_tokens`` suffix tokens of log p(t | context, fixed line, suffix<t).

    The fixed line's continuation as the fixed code has it: what the model should write once it has
    written the fix. ``fixed_ce`` and ``unlikelihood`` only touch the line itself, so nothing held
    the model to ending the line and going on with the code after it, which is where the demo's
    hotfix looped (docs/speed.md, "Why the hotfix evaluates longer"). Unlike ``snippet_ce`` it leaves
    the context's tokens out, so the fixed line keeps its own term at full weight. A case without a
    suffix adds nothing. On the demo it did not shorten the evaluation: the loops turned into prose
    answers after a code fence (docs/speed.md, "A suffix term against the loops"); no shipped recipe
    uses it.

    Params:
        suffix_tokens: how many suffix tokens after the fixed line are scored (default 32; at least 1).

    Shapes: scores.suffix_logp/suffix_mask [B, L].
    """

    family = "learn"
    needs_suffix = True
    params = {"suffix_tokens": 32}

    def check(self) -> None:
        self._integers("suffix_ce", "suffix_tokens")

    def __call__(self, scores: Scores) -> LossOutput:
        if scores.suffix_logp is None:
            zero = scores.fixed_logp.sum() * 0.0
            return LossOutput(zero, {"ce_suffix": 0.0})
        ce = -masked_mean(scores.suffix_logp, scores.suffix_mask)
        return LossOutput(ce, {"ce_suffix": float(ce.detach())})
