"""Moved to ``codehotfix.scoring`` (encoding, collating and scoring sit below training and
evaluation, which both use them). This module keeps the old names for one release."""

from __future__ import annotations

import warnings

from codehotfix.scoring import (Batch, EncodedCase, Scores, base_model_view, collate, encode_case,
                                reference_context_logprobs, reference_line_logprobs, score_batch, split_model)

__all__ = ["EncodedCase", "Batch", "Scores", "encode_case", "collate", "score_batch", "split_model",
           "base_model_view", "reference_context_logprobs", "reference_line_logprobs"]

warnings.warn("codehotfix.training.batching is deprecated: import from codehotfix.scoring",
              DeprecationWarning, stacklevel=2)
