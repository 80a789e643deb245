"""Training: the hotfix loop over scored batches (encoding and scoring live in ``codehotfix.scoring``)."""

from __future__ import annotations

import warnings

from codehotfix.training.loop import TrainResult, train_adapter
from codehotfix.training.retain import load_retain_corpus

__all__ = ["TrainResult", "train_adapter", "load_retain_corpus"]

_MOVED = ("collate", "encode_case", "score_batch")  # to codehotfix.scoring; kept here for one release


def __getattr__(name: str) -> object:
    if name in _MOVED:
        warnings.warn(f"codehotfix.training.{name} is deprecated: import it from codehotfix.scoring",
                      DeprecationWarning, stacklevel=2)
        import codehotfix.scoring

        return getattr(codehotfix.scoring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
