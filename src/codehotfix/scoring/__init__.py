"""Scoring: cases → token batches → token log-probs, for training, evaluation and the canary alike.

The bottom of the modelling stack (it imports only ``data`` and ``models``; docs/architecture.md):

- ``encoding``: ``EncodedCase`` and ``encode_case`` (context, fixed and buggy line as token ids), and
  ``within_line_limit`` (the cases whose lines are short enough to score, ``LINE_TOKEN_LIMIT``).
- ``batch``: ``Batch``, ``collate`` and ``pad_rows`` (left-padded contexts, right-padded lines).
- ``scores``: ``Scores``, the typed input of every objective.
- ``forward``: ``score_batch`` (shared-prefix scoring) and ``split_model`` (decoder and head).
- ``reference``: the base-model view (``base_model_view``, ``adapters_disabled``) and its log-probs.
- ``lines``: ``line_logprobs`` over a list of cases (the margins evaluation reports).
"""

from codehotfix.scoring.batch import Batch, collate, pad_rows
from codehotfix.scoring.encoding import LINE_TOKEN_LIMIT, EncodedCase, encode_case, within_line_limit
from codehotfix.scoring.forward import score_batch, score_packed, split_model
from codehotfix.scoring.lines import line_logprobs, line_logprobs_with_states
from codehotfix.scoring.reference import (adapters_disabled, base_model_view, reference_context_logprobs,
                                          reference_line_logprobs)
from codehotfix.scoring.scores import Scores

__all__ = ["EncodedCase", "encode_case", "LINE_TOKEN_LIMIT", "within_line_limit", "Batch", "collate", "pad_rows", "Scores", "score_batch", "score_packed", "split_model",
           "line_logprobs", "line_logprobs_with_states", "base_model_view", "adapters_disabled", "reference_context_logprobs",
           "reference_line_logprobs"]
