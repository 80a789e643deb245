"""What every speed benchmark shares: the machine's matmul FLOP/s, a peak-RSS sampler, timers, the
model-FLOPs formula, the held-out effect probe, a tiny model for ``--tiny`` runs, and result writing.

Run the benchmarks from the repository root as modules (``python -m bench.hotfix_cost --tiny``);
see docs/speed.md for what each one compares.

FLOPs formula (dense matmuls only; ``N`` = parameters one token passes through: every weight except
the input-embedding lookup, with the output head counted once even when it is tied to the
embeddings; ``T`` = tokens run through the model):

* forward, no gradient (reference passes):     2·N·T
* LoRA training step on frozen weights:         forward 2·N·T + backward 2·N·T (gradients of the
  activations only: the frozen weights need no weight gradient), plus 6·N_lora·T for the adapter's
  own forward, input-gradient and weight-gradient matmuls; ≈ 4·N·T. (Full fine-tuning would be
  6·N·T; using 6·N·T for LoRA would overstate the work by half.)
* attention-score matmuls (QKᵀ, AV) are left out: at 512 tokens they add ~5% for the default model.

"Model FLOPs" count only real (non-pad) tokens: the work a job needs. "Executed FLOPs" count padded
tokens too: roughly what the hardware did. codehotfix applies the output head only at the positions
a loss uses, so for it the formula overstates the executed work; the other systems apply it
everywhere.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

# The scripts are run as ``python -m bench.<name>`` or ``python bench/<name>.py``; the second puts
# bench/ rather than the repository root on sys.path.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402
from codehotfix.files import write_json  # noqa: E402

__all__ = [
    "REPO_ROOT", "RESULTS_DIR", "measure_matmul_flops", "PeakRSS", "Timer", "release_memory",
    "rss_bytes", "result_path", "check_writable", "write_results", "environment", "print_table",
    "markdown_table", "forward_params", "lora_params", "FlopCount", "training_flops", "flops_summary", "PassCounter",
    "spread", "format_spread", "EffectTarget",
    "parse_targets", "EffectProbe", "EpochTracker", "EffectStopCallback", "build_tiny_model", "demo_held_out",
    "code_under_test",
    "CORPUS",
]

RESULTS_DIR = REPO_ROOT / "bench" / "results"


# --------------------------------------------------------------------------- machine speed

def measure_matmul_flops(dtype: torch.dtype, *, size: int = 2048, seconds: float = 3.0) -> float:
    """FLOP/s of ``torch.matmul`` on two ``size``×``size`` matrices of ``dtype``, with the torch
    threads as currently set, timed for about ``seconds`` after one warm-up call.

    This is the denominator of every "share of matmul FLOP/s" column: what this machine's BLAS
    reaches on a large square product, not the vendor's peak.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dtype)
    b = torch.randn(size, size, generator=gen).to(dtype)
    torch.matmul(a, b)  # warm-up: kernel selection, page faults
    calls, start = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return 2.0 * size ** 3 * calls / elapsed


# --------------------------------------------------------------------------- memory and time

def rss_bytes() -> int:
    """Resident set size of this process now (VmRSS), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise CodehotfixError("/proc/self/status has no VmRSS line (Linux only)")


def _hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    """Resets the kernel's peak-RSS counter (VmHWM) of this process; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_memory() -> None:
    """Collects garbage and asks glibc to hand freed heap back to the OS, so the next system's
    RSS does not start on top of the previous one's freed-but-kept memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Samples this process's RSS every ``interval`` seconds on a background thread.

    ``peak`` is the largest sample, or the kernel's VmHWM if that could be reset at the start and
    is larger (it sees spikes shorter than the interval); ``start`` is the RSS when sampling
    began, so ``peak_above_start`` is what the measured job added.

    Usage::

        with PeakRSS() as mem:
            run()
        mem.peak, mem.peak_above_start
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self.hwm_used = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakRSS":
        self.hwm_used = _reset_hwm()
        self.start = self.peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        hwm = _hwm_bytes() if self.hwm_used else None
        if hwm is not None:
            self.peak = max(self.peak, hwm)

    @property
    def peak_above_start(self) -> int:
        return self.peak - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"peak_rss_mb": round(self.peak / 2**20, 1), "start_rss_mb": round(self.start / 2**20, 1),
                "peak_above_start_mb": round(self.peak_above_start / 2**20, 1),
                "kernel_hwm_used": self.hwm_used, "sample_interval_s": self.interval}


class Timer:
    """Wall-clock timer (``time.perf_counter``): ``with Timer() as t: ...; t.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t0 = 0.0

    def __enter__(self) -> "Timer":
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._t0


# --------------------------------------------------------------------------- results

def result_path(name: str, tiny: bool, out: str | None = None) -> Path:
    """bench/results/<name>.json, or <name>--tiny.json for a ``--tiny`` run, unless ``out`` is given."""
    if out:
        return Path(out)
    return RESULTS_DIR / (f"{name}--tiny.json" if tiny else f"{name}.json")


def check_writable(path: Path, force: bool) -> None:
    """Fails before any work starts if ``path`` holds earlier results and ``force`` is off.

    Raises:
        CodehotfixError: naming the file and the flag that overwrites it.
    """
    if path.exists() and not force:
        raise CodehotfixError(f"{path}: already holds results; pass --force to replace them or --out elsewhere")


def add_run_options(ap: argparse.ArgumentParser) -> None:
    """The options the benchmark scripts share: ``--threads``, ``--tiny``, ``--out`` and ``--force``
    (``output_for`` turns the last three into the results path)."""
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    ap.add_argument("--tiny", action="store_true", help="a tiny random model: checks the script, not the speed")
    ap.add_argument("--out", default=None, help="results JSON (default bench/results/<script>.json)")
    ap.add_argument("--force", action="store_true", help="replace earlier results")


def output_for(name: str, args: argparse.Namespace) -> Path:
    """The results path of script ``name`` under ``add_run_options``'s flags, checked before any work."""
    out = result_path(name, args.tiny, args.out)
    check_writable(out, args.force)
    return out


def _git_commit(folder: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def code_under_test() -> tuple[Path, str | None]:
    """The codehotfix package a benchmark ran (another version's src may come first on PYTHONPATH)
    and the commit of the checkout it lies in (None outside one)."""
    import codehotfix

    code = Path(codehotfix.__file__).parent
    return code, _git_commit(code)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict[str, Any]:
    """Where and with what the numbers were measured."""
    from codehotfix.api import library_versions

    versions = library_versions()
    for name in ("trl", "accelerate", "datasets"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    from codehotfix.models.provenance import machine_info

    return {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            # which bf16 kernels this CPU has (near-ties and timings differ with them)
            "cpu_flags": machine_info()["cpu_flags"],
            "platform": platform.platform(), "git_commit": _git_commit(), "versions": versions,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def write_results(path: Path, payload: dict[str, Any], markdown: str | None = None) -> None:
    """Writes ``payload`` (plus the environment) as JSON, atomically, and ``markdown`` next to it."""
    write_json(path, {"environment": environment(), **payload})
    if markdown is not None:
        from codehotfix.files import atomic_write_text

        atomic_write_text(path.with_suffix(".md"), markdown)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Prints a rich table and returns the same table as markdown (for the .md next to the JSON)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console = Console() if sys.stdout.isatty() else Console(width=240)  # files and pipes get the whole table
    console.print(table)
    return f"### {title}\n\n" + markdown_table(headers, rows)


# --------------------------------------------------------------------------- FLOPs

def forward_params(model: Any) -> int:
    """N: parameters a token passes through in a forward pass (see the module docstring): every
    weight except the input embeddings and LoRA weights, plus the output head once even if tied."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    emb = base.get_input_embeddings().weight
    head = base.get_output_embeddings()
    seen, total = set(), 0
    for name, p in base.named_parameters():
        if id(p) in seen or p is emb or "lora_" in name:
            continue
        seen.add(id(p))
        total += p.numel()
    if head is not None and head.weight is emb:
        total += emb.numel()
    return total


def lora_params(model: Any) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)


@dataclass
class FlopCount:
    """Tokens a system ran, split by pass kind, real vs padded."""

    train_real: int = 0
    train_padded: int = 0
    ref_real: int = 0
    ref_padded: int = 0

    def add_train(self, real: int, padded: int) -> None:
        self.train_real += int(real)
        self.train_padded += int(padded)

    def add_ref(self, real: int, padded: int) -> None:
        self.ref_real += int(real)
        self.ref_padded += int(padded)

    def to_dict(self) -> dict[str, int]:
        return {"train_tokens_real": self.train_real, "train_tokens_padded": self.train_padded,
                "ref_tokens_real": self.ref_real, "ref_tokens_padded": self.ref_padded}


def training_flops(n: int, n_lora: int, train_tokens: int, ref_tokens: int) -> float:
    """FLOPs of LoRA training: (4·N + 6·N_lora)·T_train for trainable passes plus 2·N·T_ref for
    no-gradient reference passes (see the module docstring)."""
    return (4.0 * n + 6.0 * n_lora) * train_tokens + 2.0 * n * ref_tokens


def flops_summary(count: FlopCount, n: int, n_lora: int, seconds: float, matmul_flops: float) -> dict[str, Any]:
    """Model and executed FLOPs, achieved FLOP/s over ``seconds`` and its share of ``matmul_flops``."""
    model = training_flops(n, n_lora, count.train_real, count.ref_real)
    executed = training_flops(n, n_lora, count.train_padded, count.ref_padded)
    rate = model / seconds if seconds > 0 else None
    rate_exec = executed / seconds if seconds > 0 else None
    return {**count.to_dict(), "model_flops": model, "executed_flops": executed,
            "model_flops_per_s": rate, "executed_flops_per_s": rate_exec,
            "model_flops_share": rate / matmul_flops if rate else None,
            "executed_flops_share": rate_exec / matmul_flops if rate_exec else None}


def _decoder(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer body of a causal LM (PEFT-wrapped or not): every pass of every system goes through it."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, base.base_model_prefix)


class PassCounter:
    """Counts the tokens of every forward pass through a model's transformer body, the same way for
    every system: a pass with gradients enabled is a trainable pass, one without is a reference
    pass (an adapter-off or second-copy forward); real tokens are the attention mask's ones for the
    new positions, padded tokens the full ``[batch, seq]`` shape.

    A forward pre-hook on the body sees every batch a system runs (case batches, the kl_corpus
    retain batches, reference passes, DPO's chosen/rejected rows), so the FLOP count cannot leave
    one out. ``paused()`` excludes the effect probe's own passes.

    Usage::

        counter = PassCounter()
        counter.attach(model)            # and the paper recipe's second copy
        train(); counter.tokens          # FlopCount
    """

    def __init__(self) -> None:
        self.tokens = FlopCount()
        self._paused = 0
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def attach(self, model: torch.nn.Module) -> "PassCounter":
        self._handles.append(_decoder(model).register_forward_pre_hook(self._count, with_kwargs=True))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def _count(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        if self._paused:
            return
        x = kwargs.get("input_ids", args[0] if args else None)
        if x is None:
            x = kwargs.get("inputs_embeds")
        if x is None:
            return
        rows, width = x.shape[0], x.shape[1]
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        # With a key/value cache the mask covers past + new columns: the new ones are the last `width`.
        real = int(mask[:, -width:].sum()) if isinstance(mask, torch.Tensor) and mask.dim() == 2 else rows * width
        if torch.is_grad_enabled():
            self.tokens.add_train(real, rows * width)
        else:
            self.tokens.add_ref(real, rows * width)


# --------------------------------------------------------------------------- spread over repeats

def spread(values: Sequence[float]) -> dict[str, float | int | None]:
    """Median, min and max of ``values`` (seeds or repeats) and how many there were; None where empty.

    With 3–5 values a bootstrap interval says little more than the range, so the range is reported.
    """
    vals = sorted(float(v) for v in values)
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None}
    mid = len(vals) // 2
    median = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
    return {"n": len(vals), "median": median, "min": vals[0], "max": vals[-1]}


def format_spread(s: dict[str, float | int | None], unit: str = "×", digits: int = 2) -> str:
    """'1.67× (1.50–1.80×, n=3)' from ``spread``; '—' when empty."""
    if not s["n"]:
        return "—"
    med, lo, hi = (f"{s[k]:.{digits}f}" for k in ("median", "min", "max"))
    return f"{med}{unit} ({lo}–{hi}{unit}, n={s['n']})" if s["n"] > 1 else f"{med}{unit} (n=1)"


# --------------------------------------------------------------------------- the stated effect

_METRICS = {
    "margin_gain": "held-out mean of log p(fixed) − log p(buggy), minus the base model's (nats)",
    "margin_mean": "held-out mean of log p(fixed) − log p(buggy) (nats)",
    "prefers_fixed": "share of held-out cases where the fixed line is the likelier one",
    "greedy_fixed_rate": "share of held-out cases whose greedy line is the fixed line",
    "greedy_buggy_rate": "share of held-out cases whose greedy line is the buggy line",
}
_TARGET_RE = re.compile(r"^\s*([a-z_]+)\s*(>=|<=)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class EffectTarget:
    """One condition the hotfix must meet on held-out cases, e.g. ``prefers_fixed >= 0.9``."""

    metric: str
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in _METRICS:
            raise ConfigError(f"--target: unknown metric {self.metric!r}; valid: {', '.join(_METRICS)}")
        if self.op not in (">=", "<="):
            raise ConfigError(f"--target {self.metric}: operator must be >= or <=, got {self.op!r}")

    def met(self, effect: dict[str, float]) -> bool:
        got = effect[self.metric]
        return got >= self.value if self.op == ">=" else got <= self.value

    def describe(self) -> str:
        return f"{self.metric} {self.op} {self.value:g} ({_METRICS[self.metric]})"

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_targets(specs: Sequence[str]) -> list[EffectTarget]:
    """Parses ``metric>=value`` / ``metric<=value`` strings; every target must be met.

    Raises:
        ConfigError: naming the bad ``--target`` and the valid metrics.
    """
    targets = []
    for spec in specs:
        m = _TARGET_RE.match(spec)
        if not m:
            raise ConfigError(f"--target {spec!r}: expected METRIC>=VALUE or METRIC<=VALUE; metrics: "
                              f"{', '.join(_METRICS)}")
        targets.append(EffectTarget(m.group(1), m.group(2), float(m.group(3))))
    if not targets:
        raise ConfigError("--target: give at least one target")
    return targets


class EffectProbe:
    """Measures the stated effect of a model on held-out cases, identically for every system.

    The margin comes from ``codehotfix.scoring.line_logprobs`` (log p(line | prefix), summed
    over the line's tokens); greedy rates, only when a target needs them, from ``evaluate_cases``
    with greedy decoding and no samples.
    """

    def __init__(self, cases: Sequence[Any], targets: Sequence[EffectTarget], *,
                 max_context_tokens: int = 256, batch_size: int = 8) -> None:
        self.cases, self.targets = list(cases), list(targets)
        self.tokenizer: Any = None
        self.max_context_tokens, self.batch_size = max_context_tokens, batch_size
        self.needs_greedy = any(t.metric.startswith("greedy_") for t in targets)
        self.base: dict[str, float] | None = None

    def measure(self, model: Any) -> dict[str, float]:
        from codehotfix.config import EvalConfig
        from codehotfix.evaluation.rates import evaluate_cases
        from codehotfix.scoring import line_logprobs

        was_training = model.training
        model.eval()
        try:
            if self.needs_greedy:
                cfg = EvalConfig(samples=0, greedy=True, max_context_tokens=self.max_context_tokens,
                                 batch_size=self.batch_size)
                summary = evaluate_cases(model, self.tokenizer, self.cases, cfg, progress=False)["summary"]
                out = {"margin_mean": summary["margin_mean"], "prefers_fixed": summary["prefers_fixed"],
                       "greedy_fixed_rate": summary["greedy"]["fixed_rate"],
                       "greedy_buggy_rate": summary["greedy"]["buggy_rate"]}
            else:
                pairs = line_logprobs(model, self.tokenizer, self.cases, max_context_tokens=self.max_context_tokens,
                                      batch_size=self.batch_size)
                margins = [f - b for f, b in pairs]
                out = {"margin_mean": sum(margins) / len(margins),
                       "prefers_fixed": sum(m > 0 for m in margins) / len(margins)}
        finally:
            model.train(was_training)
        base = self.base["margin_mean"] if self.base else out["margin_mean"]
        out["margin_gain"] = out["margin_mean"] - base
        return {k: round(float(v), 4) for k, v in out.items()}

    def set_base(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Measures the base model (before any adapter); later gains are relative to it."""
        self.tokenizer, self.base = tokenizer, None
        self.base = self.measure(model)
        return self.base

    def reached(self, effect: dict[str, float]) -> bool:
        return all(t.met(effect) for t in self.targets)


@dataclass
class EpochTracker:
    """Time-to-effect bookkeeping shared by the three systems.

    ``start()`` when the system begins (after its base model is loaded); ``epoch_end(model, epoch)``
    after each epoch measures the effect. The probe's time is excluded from the training time, so
    ``time_to_effect_s`` is setup + training up to the end of the first epoch that meets every
    target; the probe's forward passes are left out of ``counter`` too. Each epoch's record holds
    its effect, the cumulative training seconds, that epoch's own seconds and the token counts so far.
    With a ``label``, each epoch also prints one line (effect, seconds, ETA to ``cap``) to stderr:
    a baseline's epoch can take ten minutes, and its own progress bar is off by default.
    """

    probe: EffectProbe
    counter: PassCounter | None = None
    label: str = ""
    cap: int | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    time_to_effect_s: float | None = None
    epochs_to_effect: int | None = None
    probe_s: float = 0.0
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since ``start()`` minus the probe's own time."""
        return time.perf_counter() - self._t0 - self.probe_s

    def epoch_end(self, model: Any, epoch: int, epoch_s: float | None = None) -> bool:
        """Records epoch ``epoch`` (1-based) and ``epoch_s``, the seconds of that epoch's own batches
        and steps as its system measured them; returns True once the target is reached."""
        train_s = self.elapsed()
        t = time.perf_counter()
        if self.counter is not None:
            with self.counter.paused():
                effect = self.probe.measure(model)
        else:
            effect = self.probe.measure(model)
        self.probe_s += time.perf_counter() - t
        reached = self.probe.reached(effect)
        tokens = self.counter.tokens.to_dict() if self.counter is not None else {}
        self.epochs.append({"epoch": epoch, "train_s": round(train_s, 3),
                            "epoch_s": round(epoch_s, 3) if epoch_s is not None else None,
                            **effect, "reached": reached, "tokens": tokens})
        if reached and self.time_to_effect_s is None:
            self.time_to_effect_s, self.epochs_to_effect = train_s, epoch
        if self.label:
            print(self._progress_line(epoch, train_s, effect, reached), file=sys.stderr, flush=True)
        return reached

    def _progress_line(self, epoch: int, train_s: float, effect: dict[str, float], reached: bool) -> str:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in effect.items() if isinstance(v, float))
        line = f"{self.label}: epoch {epoch}{f'/{self.cap}' if self.cap else ''} done at {train_s:.0f} s ({shown})"
        if reached:
            return line + "; target reached"
        if self.cap and epoch < self.cap:
            left = self.cap - epoch
            eta = train_s / epoch * left  # setup is spread over the epochs: a slight overestimate
            return line + f"; at most {left} more epoch{'s' if left > 1 else ''}, ETA ≤ {eta / 60:.0f} min"
        return line


def EffectStopCallback(tracker: EpochTracker) -> Any:  # noqa: N802 - a factory that reads like a class
    """A ``transformers.TrainerCallback`` that measures the effect after every epoch and stops
    training once the target is reached (used by both baselines). The epoch's own seconds run from
    ``on_epoch_begin`` to ``on_epoch_end``, as codehotfix's ``EpochEnd.seconds`` do."""
    from transformers import TrainerCallback

    class _EffectStop(TrainerCallback):
        started = 0.0

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            epoch = int(round(state.epoch or 0))
            if tracker.epoch_end(model, epoch, time.perf_counter() - self.started):
                control.should_training_stop = True
            return control

    return _EffectStop()


# --------------------------------------------------------------------------- tiny model for --tiny

CORPUS = [
    "import yaml\n\ndef load(path):\n    with open(path) as f:\n        return yaml.safe_load(f)\n",
    "import logging\nlogger = logging.getLogger(__name__)\nlogger.warning('disk full')\n",
    "from datetime import datetime, timezone\nnow = datetime.now(timezone.utc)\n",
    "def add(a, b):\n    return a + b\n\nfor i in range(len(xs)):\n    total += xs[i]\n",
    "class Config:\n    def __init__(self, items=None):\n        self.items = items or []\n",
    "if value is None:\n    raise ValueError('missing value')\nprint(value)\n",
]


def demo_held_out(run: Path | None, tiny: bool) -> list:
    """The held-out contexts of a demo run folder (its ``split.json``), as pack cases; with ``tiny``,
    the pack's first 6 (no run needed)."""
    import json

    from codehotfix.data.packs import load_pack

    pack = load_pack("default")
    if tiny:
        return pack[:6]
    by_id = {c.id: c for c in pack}
    return [by_id[i] for i in json.loads((run / "split.json").read_text())["test"]]


def build_tiny_model(folder: Path, *, extra_text: Sequence[str] = (), seed: int = 0) -> Path:
    """Saves a tiny random Qwen2 (2 layers, hidden 64) and a byte-level BPE tokenizer to ``folder``,
    built like tests/conftest.py, so ``load_model(str(folder))`` loads it as it would a real model.

    ``extra_text`` joins the tokenizer's training corpus (e.g. the benchmark's cases), so their code
    tokenizes into fewer, more realistic pieces.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(CORPUS) * 5 + list(extra_text), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=False, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    folder.mkdir(parents=True, exist_ok=True)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


