"""Per-epoch resume checkpoints, stored without pickle: JSON for the run's progress, safetensors for tensors.

A checkpoint folder (``OUT/.checkpoint`` for ``codehotfix train``) holds:

- ``state.json``: format, fingerprint of config + cases, epoch, step, history, tokens and seconds so
  far, the states of python's ``random`` (the loop's, the retain sampler's and the global one) and
  numpy's RNG, the optimiser's param groups and non-tensor state, and the name and sha256 of
- ``state-e<epoch>.safetensors``: trainable weights (``param.<name>``), optimiser state tensors
  (``optim.<index>.<key>``) and torch's RNG states as uint8 tensors (``rng.torch``, ``rng.cuda.<i>``).

Why not ``torch.save``: loading a pickle runs whatever code it names, so a file planted in the output
folder ran when ``codehotfix train`` started (issue 14). Here JSON is parsed, the fingerprint is
checked before the tensor file is opened, the tensor file's sha256 before it is parsed, and
safetensors reads only a JSON header and raw bytes. Anything unexpected — an old ``state.pt``, a
corrupt, truncated or foreign file — is a ``CheckpointError`` naming the file, never a traceback.

Writes are atomic (``codehotfix.files.atomic_path``): the tensor file goes under a new name first,
then ``state.json`` pointing at it, then the previous tensor file is removed, so a crash at any point
leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from codehotfix.config import HotfixConfig, fingerprint_view
from codehotfix.data.cases import HotfixCase
from codehotfix.errors import CodehotfixError
from codehotfix.files import atomic_path, atomic_write_text, sha256_file, sha256_text

__all__ = ["CheckpointError", "RunState", "fingerprint", "save_checkpoint", "load_checkpoint",
           "discard_checkpoint", "STATE_FILE", "OLD_STATE_FILE"]

FORMAT = "codehotfix-checkpoint/1"
STATE_FILE = "state.json"
OLD_STATE_FILE = "state.pt"  # the pickle format before issue 14: never loaded
_TENSOR_FILE = re.compile(r"state-e\d+\.safetensors")
_RESTART = "pass --restart (restart=True in the API) or delete the folder to train from the start"


class CheckpointError(CodehotfixError):
    """A resume checkpoint cannot be used (old format, corrupt, truncated or from another run); the
    message names the file and how to start over."""


@dataclass
class RunState:
    """How far a run has got; saved with each checkpoint and summed over resumed segments."""

    epoch: int = 0
    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def fingerprint(cfg: HotfixConfig, cases: Sequence[HotfixCase]) -> str:
    """Identifies a run: a checkpoint resumes only a run with the same config and cases."""
    payload = json.dumps({"cfg": fingerprint_view(cfg), "cases": [c.to_dict() for c in cases]}, sort_keys=True, default=str)
    return sha256_text(payload)


def save_checkpoint(folder: Path, fp: str, done: RunState, model: Any, optimizer: Any, rng: random.Random,
                    retain_rng: random.Random | None) -> None:
    """Writes the checkpoint of ``done`` (trainable weights, optimiser and RNG states) to ``folder``."""
    from safetensors.torch import save_file

    optim_json, tensors = _split_optimizer(optimizer.state_dict())
    tensors.update({f"param.{k}": v.detach().contiguous() for k, v in model.named_parameters() if v.requires_grad})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    name = f"state-e{done.epoch}.safetensors"
    with atomic_path(folder / name) as tmp:
        save_file(tensors, str(tmp))
    state = {"format": FORMAT, "fingerprint": fp, **asdict(done), "optimizer": optim_json,
             "tensors": name, "tensors_sha256": sha256_file(folder / name),
             "py_rng": _py_state(rng), "retain_rng": _py_state(retain_rng) if retain_rng else None,
             "global_py_rng": _py_state(random), "numpy_rng": _numpy_state()}
    atomic_write_text(folder / STATE_FILE, json.dumps(state))
    for old in folder.glob("state-e*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path, fp: str, model: Any, optimizer: Any, rng: random.Random,
                    retain_rng: random.Random | None) -> RunState | None:
    """Restores the checkpoint in ``folder`` into ``model``, ``optimizer`` and the RNGs.

    Returns:
        The saved progress, or None when ``folder`` holds no checkpoint (a fresh run).

    Raises:
        CheckpointError: an old pickle ``state.pt`` (never opened), or a checkpoint that is corrupt,
            truncated, not ours, from a run with another config or cases, or does not fit ``model``.
    """
    old = folder / OLD_STATE_FILE
    if old.exists():
        raise CheckpointError(f"{old}: old-format (pickle) checkpoint, not loaded since unpickling can run "
                              f"code; {_RESTART}")
    path = folder / STATE_FILE
    if not path.exists():
        return None  # a tensor file without state.json is an unfinished first write: never read
    state = _read_state(path)
    if state.get("fingerprint") != fp:
        raise CheckpointError(f"{path}: checkpoint of a run with another config or cases; rerun with those "
                              f"to resume, or {_RESTART}")
    tensors = _read_tensors(folder, state)
    try:
        done = RunState(epoch=int(state["epoch"]), step=int(state["step"]), tokens=int(state["tokens"]),
                        seconds=float(state["seconds"]), history=state["history"])
        if not isinstance(done.history, list) or not all(isinstance(h, dict) for h in done.history):
            raise TypeError("history is not a list of objects")
        _restore_weights(model, tensors)
        optimizer.load_state_dict(_join_optimizer(state["optimizer"], tensors))
        _restore_rngs(state, tensors, rng, retain_rng)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise CheckpointError(f"{path}: malformed, or does not fit this model ({type(e).__name__}: {reason}); "
                              f"{_RESTART}") from None
    return done


def discard_checkpoint(folder: Path) -> None:
    """Removes a checkpoint's files from ``folder`` unread (old and new formats, unfinished writes)."""
    for pattern in (STATE_FILE, OLD_STATE_FILE, "state-e*.safetensors", ".state*.tmp"):
        for f in folder.glob(pattern):
            f.unlink(missing_ok=True)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint, corrupt or truncated ({type(e).__name__}); "
                              f"{_RESTART}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a codehotfix checkpoint (format is not {FORMAT!r}); {_RESTART}")
    return state


def _read_tensors(folder: Path, state: dict[str, Any]) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    name = state.get("tensors")
    # Only a bare file name of our own pattern: state.json must not point outside the folder.
    if not isinstance(name, str) or not _TENSOR_FILE.fullmatch(name):
        raise CheckpointError(f"{folder / STATE_FILE}: field 'tensors' is not a state-e<N>.safetensors name; "
                              f"{_RESTART}")
    path = folder / name
    if not path.is_file() or sha256_file(path) != state.get("tensors_sha256"):
        raise CheckpointError(f"{path}: missing, or its sha256 does not match {STATE_FILE} (corrupt or truncated); "
                              f"{_RESTART}")
    try:
        return load_file(str(path), device="cpu")  # copy_/load_state_dict move tensors to their device
    except Exception as e:  # safetensors raises its own SafetensorError on a bad header
        raise CheckpointError(f"{path}: unreadable safetensors file ({type(e).__name__}); {_RESTART}") from None


def _restore_weights(model: Any, tensors: dict[str, torch.Tensor]) -> None:
    trainable = {k: v for k, v in model.named_parameters() if v.requires_grad}
    saved = {k.removeprefix("param."): v for k, v in tensors.items() if k.startswith("param.")}
    if saved.keys() != trainable.keys():
        raise ValueError(f"weights for other parameters than the model's trainable ones, e.g. "
                         f"{sorted(saved.keys() ^ trainable.keys())[:2]}")
    with torch.no_grad():
        for k, v in saved.items():
            trainable[k].copy_(v)


def _split_optimizer(sd: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """An optimiser state_dict as (JSON-able part, tensors keyed ``optim.<index>.<key>``)."""
    tensors, plain = {}, {}
    for idx, entry in sd["state"].items():
        plain[str(idx)] = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().contiguous()
            else:
                plain[str(idx)][key] = value
    return {"state": plain, "param_groups": sd["param_groups"]}, tensors


def _join_optimizer(plain: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(entry) for i, entry in plain["state"].items()}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    # JSON turned tuples into lists; torch's optimisers unpack betas either way, but keep the type.
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in plain["param_groups"]]
    return {"state": state, "param_groups": groups}


def _py_state(r: Any) -> list[Any]:
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def _set_py_state(r: Any, saved: list[Any]) -> None:
    version, internal, gauss = saved
    r.setstate((version, tuple(internal), gauss))


def _numpy_state() -> list[Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _restore_rngs(state: dict[str, Any], tensors: dict[str, torch.Tensor], rng: random.Random,
                  retain_rng: random.Random | None) -> None:
    _set_py_state(rng, state["py_rng"])
    if retain_rng is not None and state.get("retain_rng") is not None:
        _set_py_state(retain_rng, state["retain_rng"])
    _set_py_state(random, state["global_py_rng"])
    name, keys, pos, has_gauss, cached = state["numpy_rng"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[f"rng.cuda.{i}"] for i in range(sum(k.startswith("rng.cuda.") for k in tensors))]
    # Resumed on a machine with another GPU count: the weights still resume exactly; only dropout's
    # random draws (0 by default) differ from an uninterrupted run.
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
