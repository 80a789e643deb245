"""Training: the hotfix loop over scored batches (encoding and scoring live in ``codehotfix.scoring``)."""

from __future__ import annotations

import warnings

from codehotfix import scoring as _scoring
from codehotfix.training.loop import TrainResult, train_adapter
from codehotfix.training.retain import load_retain_corpus

__all__ = ["TrainResult", "train_adapter", "load_retain_corpus"]

_MOVED = ("collate", "encode_case", "score_batch")  # to codehotfix.scoring; kept here for one release


def __getattr__(name: str) -> object:
    """The moved names still resolve here (module ``__getattr__``, PEP 562), with a warning naming the new home."""
    if name in _MOVED:
        warnings.warn(f"codehotfix.training.{name} is deprecated: import it from codehotfix.scoring",
                      DeprecationWarning, stacklevel=2)
        return getattr(_scoring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
