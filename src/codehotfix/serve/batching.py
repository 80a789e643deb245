"""Dynamic batching: requests from many clients decoded together in one left-padded batch.

Request threads call ``Batcher.submit`` with their rows (already checked by the engine) and wait on
the returned ``Ticket``. One worker thread takes the first waiting request, then keeps collecting
for ``window_s`` (a few ms) or until ``max_rows`` rows, and decodes them all with one
``HotfixEngine.run``: on a GPU (and even on a CPU) a step over 8 rows costs far less than 8 steps
over one. Requests arriving while a batch runs wait in the queue and form the next batch, so under
load batches fill up without any window at all.

The engine serves one hotfix set to every request (a swap applies to all), so any requests may share
a batch; the versions that produced a batch are read once, under the engine's lock, for all of it.
Streaming requests ride in the same batches: their rows carry per-token callbacks. Batches are
static: a row that finishes early leaves the batch, but new requests wait for the whole batch to
end (no continuous batching), so a long request delays the ones queued behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from codehotfix.errors import ConfigError
from codehotfix.serve.decode import Row

__all__ = ["Batcher", "Ticket", "BatchStats"]


@dataclass
class Ticket:
    """One request in the queue: set ``started`` (with ``versions``) when its batch begins and
    ``done`` when it ends (``error`` holds what went wrong, if anything)."""

    rows: Sequence[Row]
    on_done: Callable[["Ticket"], None] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None
    seconds: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float | None = None) -> dict[str, str]:
        """Blocks until the rows are decoded; returns the versions that produced them."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"generation did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.versions

    def _finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.started.set()
        self.done.set()
        if self.on_done is not None:
            self.on_done(self)


@dataclass
class BatchStats:
    """What the batcher has done (for /health and the load test)."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    max_requests: int = 0
    multi_request_batches: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Batcher:
    """A queue and one worker thread that decodes waiting requests together.

    Args:
        run: decodes rows as one batch and returns the hotfix versions (``HotfixEngine.run``); its
            second argument is called with the versions once the batch holds the engine's lock.
        max_rows: rows (prompts × n) per batch at most; a larger single request runs alone.
        window_s: how long an idle worker waits for more requests after the first one.
        observe: called with (requests, rows) per batch (the server's metrics).
    """

    def __init__(self, run: Callable[[Sequence[Row], Callable[[dict[str, str]], None]], dict[str, str]], *,
                 max_rows: int = 16, window_s: float = 0.005,
                 observe: Callable[[int, int], object] | None = None) -> None:
        if max_rows < 1 or window_s < 0:
            raise ConfigError(f"serve batching: max_rows must be >= 1 and window_s >= 0, got {max_rows}, {window_s}")
        self._run, self.max_rows, self.window_s, self._observe = run, max_rows, window_s, observe
        self._queue: queue.Queue[Ticket | None] = queue.Queue()
        self._held: Ticket | None = None  # taken from the queue but too big for the batch being built
        self.stats = BatchStats()
        self._stats_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="codehotfix-batcher", daemon=True)
        self._thread.start()

    def submit(self, rows: Sequence[Row], on_done: Callable[[Ticket], None] | None = None) -> Ticket:
        ticket = Ticket(list(rows), on_done)
        self._queue.put(ticket)
        return ticket

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _collect(self) -> list[Ticket] | None:
        first = self._held or self._queue.get()
        self._held = None
        if first is None:
            return None
        batch, rows = [first], len(first.rows)
        deadline = time.monotonic() + self.window_s
        while rows < self.max_rows:
            try:
                nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # stop after this batch
                break
            if rows + len(nxt.rows) > self.max_rows:
                self._held = nxt
                break
            batch.append(nxt)
            rows += len(nxt.rows)
        return batch

    def _loop(self) -> None:
        while (batch := self._collect()) is not None:
            rows = [r for t in batch for r in t.rows]
            with self._stats_lock:
                s = self.stats
                s.batches, s.requests, s.rows = s.batches + 1, s.requests + len(batch), s.rows + len(rows)
                s.max_requests = max(s.max_requests, len(batch))
                s.multi_request_batches += len(batch) > 1
            if self._observe is not None:
                self._observe(len(batch), len(rows))
            t0 = time.perf_counter()
            started = _Started(batch)
            try:
                versions = self._run(rows, started)
            except BaseException as e:  # every request of the batch learns of it; the worker goes on
                for t in batch:
                    t._finish(e)
                continue
            for t in batch:
                t.versions, t.seconds = versions, time.perf_counter() - t0
                t._finish()


class _Started:
    """Called by the engine once it holds the lock and knows the versions: streaming requests can then
    send their headers (which carry the versions) before the first token."""

    def __init__(self, batch: Sequence[Ticket]) -> None:
        self.batch = batch

    def __call__(self, versions: dict[str, str]) -> None:
        for t in self.batch:
            t.versions = versions
            t.started.set()
