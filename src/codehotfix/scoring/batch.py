"""Encoded cases padded into one ``Batch``, laid out so the shared context is computed once.

Batches are padded only to their longest sequence: contexts on the left (so every context ends in
the same column), lines on the right.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from codehotfix.scoring.encoding import EncodedCase

__all__ = ["Batch", "collate", "pad_rows"]


@dataclass
class Batch:
    """Padded tensors for B cases, laid out so the shared context is computed once.

    The contexts are left-padded to a common width C, so every context ends at column C-1; the
    continuations (fixed and buggy line of each case, interleaved: row 2i fixed, row 2i+1 buggy) are
    right-padded to width L and run on top of the contexts' key/value cache. When the cases carry a
    suffix, the fixed row continues with it and ``suffix_mask`` marks those columns.

    ``buggy_div_mask`` marks the buggy tokens from the divergence to the end of the line,
    ``buggy_diff_mask`` only those from the divergence up to the suffix both lines share
    (``EncodedCase.converge``).

    Shapes: ctx_ids/ctx_mask [B, C]; cont_ids/cont_mask [2B, L]; fixed_*/buggy_*/suffix_mask [B, L];
    kl_mask [B, K] marks the last K context positions (each predicting the next context token).
    """

    ctx_ids: torch.Tensor
    ctx_mask: torch.Tensor
    cont_ids: torch.Tensor
    cont_mask: torch.Tensor
    buggy_div_mask: torch.Tensor
    buggy_diff_mask: torch.Tensor
    kl_mask: torch.Tensor
    case_ids: list[str]
    suffix_mask: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return len(self.case_ids)

    @property
    def fixed_tgt(self) -> torch.Tensor:
        return self.cont_ids[0::2]

    @property
    def fixed_mask(self) -> torch.Tensor:
        mask = self.cont_mask[0::2].bool()
        return mask if self.suffix_mask is None else mask & ~self.suffix_mask

    @property
    def buggy_tgt(self) -> torch.Tensor:
        return self.cont_ids[1::2]

    @property
    def buggy_mask(self) -> torch.Tensor:
        return self.cont_mask[1::2].bool()

    def num_tokens(self) -> int:
        return int(self.ctx_mask.sum() + self.cont_mask.sum())

    @property
    def device(self) -> torch.device:
        return self.ctx_ids.device

    def to(self, device: torch.device | str) -> "Batch":
        """This batch with every tensor on ``device`` (itself when already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **moved)


def pad_rows(rows: Sequence[Sequence[int]], value: int, left: bool = False,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """``rows`` padded with ``value`` to the longest one (at least 1 column), as a [len(rows), W]
    long tensor; ``left`` pads in front, so every row ends in the last column."""
    width = max(1, max(len(r) for r in rows))
    if left:
        return torch.tensor([[value] * (width - len(r)) + list(r) for r in rows], dtype=torch.long, device=device)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long, device=device)


def collate(items: Sequence[EncodedCase], pad_id: int, kl_positions: int = 0,
            device: torch.device | str = "cpu") -> Batch:
    """Pads ``items`` into a Batch on ``device``. ``kl_positions`` is how many trailing context
    positions a retain loss compares (0: none)."""
    ctx_ids = pad_rows([e.context for e in items], pad_id, left=True, device=device)
    ctx_mask = pad_rows([[1] * len(e.context) for e in items], 0, left=True, device=device)
    conts = [seq for e in items for seq in (e.fixed + e.suffix, e.buggy)]
    line_width = max(len(c) for c in conts)
    div = [[int(j >= e.diverge) for j in range(len(e.buggy))] + [0] * (line_width - len(e.buggy)) for e in items]
    diff = [[int(e.diverge <= j < e.converge) for j in range(len(e.buggy))] + [0] * (line_width - len(e.buggy))
            for e in items]
    suffix_mask = None
    if any(e.suffix for e in items):
        suffix_mask = pad_rows([[0] * len(e.fixed) + [1] * len(e.suffix) for e in items], 0, device=device)
        suffix_mask = F.pad(suffix_mask, (0, line_width - suffix_mask.shape[1])).bool()
    width = ctx_ids.shape[1]
    # Column width-1 predicts the line's first token, so the compared context positions are the
    # K columns before it; a position whose next token is padding is not compared.
    k = min(kl_positions, width - 1)
    kl_mask = ctx_mask[:, width - 1 - k:width - 1] * ctx_mask[:, width - k:width] if k > 0 else \
        torch.zeros(len(items), 0, dtype=torch.long, device=device)
    return Batch(
        ctx_ids=ctx_ids,
        ctx_mask=ctx_mask,
        cont_ids=pad_rows(conts, pad_id, device=device),
        cont_mask=pad_rows([[1] * len(c) for c in conts], 0, device=device),
        buggy_div_mask=pad_rows(div, 0, left=False, device=device).bool(),
        buggy_diff_mask=pad_rows(diff, 0, left=False, device=device).bool(),
        kl_mask=kl_mask.bool(),
        case_ids=[e.case_id for e in items],
        suffix_mask=suffix_mask,
    )
