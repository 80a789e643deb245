"""Training: encode cases into token batches, score them, and run the hotfix loop."""

from codehotfix.training.batching import collate, encode_case, score_batch
from codehotfix.training.loop import TrainResult, train_adapter
from codehotfix.training.retain import load_retain_corpus

__all__ = ["collate", "encode_case", "score_batch", "TrainResult", "train_adapter", "load_retain_corpus"]
