"""The hotfix registry: a folder of versioned hotfixes and which of them are enabled.

Layout::

    <root>/registry.json              enabled versions + the last few history records (rewritten atomically)
    <root>/history.jsonl              every history record, one line each (append-only, fsynced)
    <root>/.lock                      flock'ed by every writer (CLI and a running server alike)
    <root>/<name>/<version>/          a copy of the hotfix folder (adapter files, hotfix.json, train_log.jsonl)
                       entry.json     name, version, when and from where it was added, adapter checksum
                       canaries.jsonl the cases its canary check scores on enable
                       evals/*.json   evaluation results kept with the entry (canary runs, user evals)

Every change of the enabled set appends a history record holding the state before and after it, so a
rollback can restore the previous state exactly; a rollback is itself a record (``undoes`` names the
change it reverts), so repeated rollbacks walk further back instead of toggling. What a rollback
restores (also of a compacted entry, by name) is planned in deploy/rollback.py.

registry.json stays small (a server rewrites it on every swap): it keeps only the last
``RECENT_RECORDS`` records, and the full history lives in history.jsonl. registry.json is written
first and history.jsonl appended after, so a kill between the two leaves records that registry.json
holds and the log lacks; the next change appends them (``_sync_log``), which also migrates an old
registry.json whose history holds everything.

Run: ``codehotfix hotfix add DIR --registry hotfixes/ --canaries cases.jsonl``; see docs/serving.md.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from codehotfix.data.cases import HotfixCase, read_cases, write_cases
from codehotfix.deploy.history import HISTORY_FILE, append_missing, is_record, read_log
from codehotfix.deploy.rollback import plan_rollback
from codehotfix.errors import CodehotfixError, DataError
from codehotfix.files import atomic_folder, read_json, sha256_file, write_json

__all__ = ["HotfixStore", "HotfixEntry", "StoreError", "UnknownHotfix", "ADAPTER_FILES", "STATE_FILE", "HISTORY_FILE",
           "DEFAULT_CANARIES", "NAME_RULE", "COMPACTED_FROM", "check_name", "confined_path"]

STATE_FILE = "registry.json"
# Enough for `hotfix list`/`show` to show recent changes without reading the log.
RECENT_RECORDS = 20
STATE_FORMAT = "codehotfix-registry/1"
ENTRY_FILE = "entry.json"
CANARY_FILE = "canaries.jsonl"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_OPTIONAL_FILES = ("hotfix.json", "train_log.jsonl", "README.md")
DEFAULT_CANARIES = 5
# hotfix.json key of a compacted entry: its constituents (name -> version). Written by
# deploy/compaction.py; defined here because the registry's rollback reads it, and the store may
# not import compaction (which imports it, and torch).
COMPACTED_FROM = "compacted_from"
# Names become PEFT adapter names and folder names: no dots (torch module keys), no path separators.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"


class StoreError(CodehotfixError):
    """A registry operation cannot be done (nothing to roll back, bad folder, existing version)."""


class UnknownHotfix(StoreError):
    """No hotfix (or no such version of it) in the registry; the message lists what there is."""


@dataclass
class HotfixEntry:
    """One stored hotfix version.

    Attributes:
        name: the hotfix's name in the registry.
        version: its version ("v1", "v2", … unless given).
        path: the folder holding the adapter files.
        info: entry.json (added, source, adapter_sha256, canaries, manifest summary).
    """

    name: str
    version: str
    path: Path
    info: dict[str, Any]

    @property
    def manifest(self) -> dict[str, Any]:
        """hotfix.json of the stored copy ({} when the hotfix came without one)."""
        p = self.path / "hotfix.json"
        return read_json(p) if p.exists() else {}

    def canaries(self) -> list[HotfixCase]:
        return read_cases(self.path / CANARY_FILE)

    def evals(self) -> dict[str, Any]:
        """The evaluation results kept with the entry, by file stem."""
        folder = self.path / "evals"
        return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "path": str(self.path), **self.info,
                "evals": sorted(p.stem for p in (self.path / "evals").glob("*.json"))}


def check_name(value: str, field: str = "name") -> str:
    """``value`` if it is a valid hotfix name or version label (the one rule the CLI, the registry
    and the server share: a name becomes a folder and a PEFT adapter key, so no '/', '..' or '.').

    Raises:
        StoreError: naming the field and the rule.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise StoreError(f"{field} {value!r} is not valid: use {NAME_RULE}")
    return value



def confined_path(base: str | os.PathLike, rel: str | os.PathLike, field: str) -> Path:
    """``rel`` (relative to ``base``, or absolute) resolved, if it lies inside ``base`` after every
    symlink is followed; a path that escapes (``..``, an absolute path elsewhere, a symlink out) is
    refused, so a request cannot make the server read arbitrary files.

    Raises:
        StoreError: naming the field.
    """
    root = Path(base).resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise StoreError(f"{field} {str(rel)!r} must be a file inside the hotfix folder {root}")
    return path


def _read_canary_file(path: Path, field: str) -> list[HotfixCase]:
    """Cases of a canary file. A missing file, a folder and an unreadable file give one message, so the
    answer does not reveal which paths exist."""
    message = f"{field} {str(path)!r}: no readable cases file there"
    if not path.is_file():  # also keeps a FIFO (whose open would block) away from open()
        raise StoreError(message)
    try:
        with open(path, "rb"):
            pass
    except OSError:
        raise StoreError(message) from None
    return read_cases(path)


def _load_json(path: Path, what: str) -> Any:
    """A JSON file of the registry; a corrupt one is a one-line StoreError naming it."""
    try:
        return read_json(path)
    except UnicodeDecodeError as e:
        raise StoreError(f"{path}: corrupt {what} (not UTF-8 at byte {e.start}); restore it or remove it") from None
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: corrupt {what} (invalid JSON at line {e.lineno} column {e.colno}); "
                         "restore it or remove it") from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class HotfixStore:
    """A registry folder (see the module docstring). Safe to share between processes.

    Args:
        root: the registry folder.
        create: make it if it does not exist (otherwise a missing folder is an error).
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            if not create:
                raise StoreError(f"{self.root}: no such registry folder (create it with `codehotfix hotfix add`)")
            self.root.mkdir(parents=True)
        # flock conflicts between two open files of the same process too, so nested use within one
        # store (a server holding the lock while it commits) must reuse the held lock.
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None
        self._clean_stale()

    # ---- locking and state -------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the registry's exclusive file lock (re-entrant within this object)."""
        with self._thread_lock:
            if self._depth == 0:
                self._lock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    os.close(self._lock_fd)
                    self._lock_fd = None

    def _clean_stale(self) -> None:
        """Removes temporaries a killed writer left (``.registry.json.*.tmp`` from an atomic write,
        ``<name>/.<version>.*`` from ``add``). Every writer holds the lock, so under it none is live."""
        try:
            with self.locked():
                for tmp in self.root.glob(f".{STATE_FILE}.*.tmp"):
                    tmp.unlink(missing_ok=True)
                for tmp in self.root.glob("*/.*.*"):  # files.atomic_folder's ".<version>.*" in add
                    if tmp.is_dir() and _NAME.fullmatch(tmp.parent.name):
                        shutil.rmtree(tmp, ignore_errors=True)
        except OSError:  # a read-only registry (a mounted copy) is still readable
            pass

    def state(self) -> dict[str, Any]:
        """registry.json: {"format", "enabled": {name: version}, "seq": last record's seq,
        "history": the last RECENT_RECORDS records}.

        Raises:
            StoreError: a corrupt file (bad JSON, not UTF-8, wrong types), naming it.
        """
        path = self.root / STATE_FILE
        if not path.exists():
            return {"format": STATE_FORMAT, "enabled": {}, "seq": 0, "history": []}
        state = _load_json(path, "registry state")
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise StoreError(f"{path}: not a codehotfix registry state (format {STATE_FORMAT!r} expected)")
        enabled, history = state.get("enabled"), state.get("history", [])
        if not isinstance(enabled, dict) or not all(isinstance(k, str) and isinstance(v, str) and _NAME.fullmatch(k)
                                                    and _NAME.fullmatch(v) for k, v in enabled.items()):
            raise StoreError(f"{path}: corrupt registry state (\"enabled\" must map hotfix names to versions, "
                             f"{NAME_RULE})")
        if not isinstance(history, list) or not all(is_record(h) for h in history):
            raise StoreError(f"{path}: corrupt registry state (\"history\" must be a list of records with "
                             "an integer seq and before/after objects)")
        last = history[-1]["seq"] if history else 0
        seq = state.get("seq", last)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < last:
            raise StoreError(f"{path}: corrupt registry state (\"seq\" must be an integer >= {last})")
        return {**state, "seq": seq, "history": history}

    def enabled(self) -> dict[str, str]:
        return dict(self.state()["enabled"])

    def history(self) -> list[dict[str, Any]]:
        """Every history record, oldest first (history.jsonl plus any newer ones registry.json holds)."""
        state = self.state()
        log = self._read_log()
        last = log[-1]["seq"] if log else 0
        return log + [h for h in state["history"] if h["seq"] > last]

    def _read_log(self) -> list[dict[str, Any]]:
        return read_log(self.root / HISTORY_FILE, StoreError)

    def _sync_log(self, state: dict[str, Any]) -> None:
        """Appends to history.jsonl the records of ``state`` it lacks. Called under the lock."""
        append_missing(self.root / HISTORY_FILE, state["history"], StoreError)

    # ---- entries -----------------------------------------------------------------------------

    def versions(self, name: str) -> list[str]:
        """The versions of ``name``, oldest first."""
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        found = [p for p in folder.iterdir() if (p / ENTRY_FILE).exists()]
        return [p.name for p in sorted(found, key=lambda p: (self._entry_info(p).get("added_ns", 0), p.name))]

    @staticmethod
    def _entry_info(path: Path) -> dict[str, Any]:
        info = _load_json(path / ENTRY_FILE, "entry record")
        if not isinstance(info, dict):
            raise StoreError(f"{path / ENTRY_FILE}: corrupt entry record (a JSON object expected)")
        return info

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and _NAME.fullmatch(p.name) and self.versions(p.name))

    def entry(self, name: str, version: str | None = None) -> HotfixEntry:
        """The stored entry ``name``/``version`` (the latest version when None).

        Raises:
            StoreError: naming the known hotfixes or versions.
        """
        versions = self.versions(name)
        if not versions:
            raise UnknownHotfix(f"no hotfix {name!r} in {self.root}; known: {', '.join(self.names()) or '(none)'}")
        version = check_name(version, "version") if version is not None else versions[-1]
        if version not in versions:
            raise UnknownHotfix(f"hotfix {name!r} has no version {version!r}; versions: {', '.join(versions)}")
        path = self.root / name / version
        return HotfixEntry(name, version, path, self._entry_info(path))

    def entries(self) -> list[HotfixEntry]:
        return [self.entry(n, v) for n in self.names() for v in self.versions(n)]

    def listing(self) -> list[dict[str, Any]]:
        """One row per stored version, marking the enabled ones."""
        enabled = self.enabled()
        return [{"name": e.name, "version": e.version, "enabled": enabled.get(e.name) == e.version,
                 "added": e.info.get("added"), "base_model": e.info.get("base_model"),
                 "canaries": e.info.get("canaries"), "evals": sorted(e.evals())} for e in self.entries()]

    def add(self, source: str | os.PathLike, *, name: str | None = None, version: str | None = None,
            canaries: str | os.PathLike | Sequence[HotfixCase] | None = None,
            canary_count: int = DEFAULT_CANARIES, evals: Sequence[str | os.PathLike] = (),
            force: bool = False) -> HotfixEntry:
        """Copies the hotfix folder ``source`` into the registry as a new version.

        Args:
            source: a folder written by ``codehotfix train`` (adapter files, hotfix.json).
            name: registry name (default: the folder's name).
            version: version label (default: v<N+1>).
            canaries: a cases file or cases; default: the file hotfix.json's "canaries" names. The first
                ``canary_count`` are kept.
            evals: result JSON files (e.g. ``codehotfix eval --json``) to keep with the entry.
            force: replace an existing version of the same label.

        Raises:
            StoreError / DataError: a missing adapter file, no canaries, a bad name, an existing version.
        """
        src = Path(source)
        missing = [f for f in ADAPTER_FILES if not (src / f).is_file()]
        if missing:
            raise StoreError(f"{src}: not a hotfix folder (missing {', '.join(missing)})")
        name = check_name(name or src.resolve().name, "name")
        manifest = read_json(src / "hotfix.json") if (src / "hotfix.json").exists() else {}
        cases = self._canaries_for(src, manifest, canaries)[: max(1, canary_count)]
        for p in evals:
            if not Path(p).is_file():
                raise StoreError(f"{p}: no such evaluation file")
        with self.locked():
            existing = self.versions(name)
            version = check_name(version or f"v{self._next_number(existing)}", "version")
            dest = self.root / name / version
            if dest.exists() and not force:
                raise StoreError(f"{dest}: hotfix {name!r} already has version {version!r} (pass --force to replace it)")
            if dest.exists() and self.enabled().get(name) == version:
                raise StoreError(f"{name} {version} is enabled; disable it before replacing it")
            with atomic_folder(dest) as tmp:
                for f in ADAPTER_FILES + _OPTIONAL_FILES:
                    if (src / f).is_file():
                        shutil.copy2(src / f, tmp / f)
                write_cases(tmp / CANARY_FILE, cases)
                (tmp / "evals").mkdir()
                for p in evals:
                    shutil.copy2(p, tmp / "evals" / Path(p).name)
                info = {"added": _now(), "added_ns": time.time_ns(), "source": str(src.resolve()),
                        "adapter_sha256": sha256_file(tmp / "adapter_model.safetensors"),
                        "base_model": manifest.get("base_model"),
                        "base_model_checksum": manifest.get("base_model_checksum"),
                        "cases_checksum": manifest.get("cases_checksum"), "canaries": len(cases)}
                write_json(tmp / ENTRY_FILE, info)
        return self.entry(name, version)

    @staticmethod
    def _next_number(versions: Sequence[str]) -> int:
        nums = [int(v[1:]) for v in versions if re.fullmatch(r"v\d+", v)]
        return max(nums, default=0) + 1

    @staticmethod
    def _canaries_for(src: Path, manifest: dict[str, Any],
                      canaries: str | os.PathLike | Sequence[HotfixCase] | None) -> list[HotfixCase]:
        if canaries is None:
            pointer = manifest.get("canaries")
            if isinstance(pointer, str):  # hotfix.json is data, so its pointer may not leave the folder
                return _read_canary_file(confined_path(src, pointer, "hotfix.json canaries"), "canaries")
            if isinstance(pointer, list):
                from codehotfix.data.cases import case_from_dict

                return [case_from_dict(obj, f"{src / 'hotfix.json'}: canaries[{i}]") for i, obj in enumerate(pointer)]
            raise StoreError(f"{src}: no canary cases; pass canaries (a cases file: a few of the hotfix's own "
                             "cases) or add \"canaries\": \"FILE\" to its hotfix.json")
        if isinstance(canaries, (str, os.PathLike)):
            return _read_canary_file(Path(canaries), "canaries")
        cases = list(canaries)
        if not cases:
            raise DataError("canaries: no cases given")
        return cases

    def record_eval(self, name: str, version: str, kind: str, result: dict[str, Any]) -> Path:
        """Keeps an evaluation result with the entry as evals/<kind>.json (atomically)."""
        entry = self.entry(name, version)
        return write_json(entry.path / "evals" / f"{check_name(kind, 'eval kind')}.json", result)

    # ---- the enabled set ---------------------------------------------------------------------

    def _commit(self, after: dict[str, str], action: str, name: str | None, version: str | None,
                note: str | None = None, undoes: int | None = None) -> dict[str, Any]:
        state = self.state()
        self._sync_log(state)  # first: records a kill kept out of the log (or an old, long registry.json)
        record = {"seq": state["seq"] + 1, "time": _now(), "action": action, "name": name,
                  "version": version, "before": dict(state["enabled"]), "after": dict(after)}
        if note:
            record["note"] = note
        if undoes is not None:
            record["undoes"] = undoes
        state.update(enabled=dict(after), seq=record["seq"], history=(state["history"] + [record])[-RECENT_RECORDS:])
        write_json(self.root / STATE_FILE, state)
        self._sync_log(state)
        return record

    def set_enabled(self, after: dict[str, str], *, action: str = "set", note: str | None = None) -> dict[str, Any]:
        """Replaces the enabled set (every name/version must exist); returns the history record."""
        with self.locked():
            for n, v in after.items():
                self.entry(n, v)
            return self._commit(after, action, None, None, note)

    def enable(self, name: str, version: str | None = None, *, note: str | None = None) -> dict[str, Any]:
        """Enables ``name`` at ``version`` (latest when None), replacing another enabled version of it."""
        with self.locked():
            entry = self.entry(name, version)
            after = {**self.enabled(), name: entry.version}
            return self._commit(after, "enable", name, entry.version, note)

    def disable(self, name: str, *, note: str | None = None) -> dict[str, Any]:
        check_name(name)
        with self.locked():
            enabled = self.enabled()
            if name not in enabled:
                raise StoreError(f"hotfix {name!r} is not enabled; enabled: {', '.join(enabled) or '(none)'}")
            version = enabled.pop(name)
            return self._commit(enabled, "disable", name, version, note)

    def plan_rollback(self, name: str | None = None) -> tuple[dict[str, str], int]:
        """What ``rollback`` would restore: (enabled set after it, seq of the change it undoes).

        Without ``name`` the latest change still in effect is undone as a whole; with ``name`` only
        that hotfix goes back to where it was before its latest change (others stay as they are),
        except that a compacted entry's rollback undoes the compaction (see ``deploy/rollback.py``).

        Raises:
            StoreError: nothing to roll back, or a rollback that cannot be done safely (saying what to do).
        """
        if name is not None:
            check_name(name)
        # The whole log: an undone change may be older than registry.json's records.
        return plan_rollback(self.history(), self.enabled(), name, functools.cache(self._compacted_from), StoreError)

    def _compacted_from(self, name: str, version: str) -> dict[str, str]:
        """The constituents of the entry ``name``/``version`` ({} when it is no compacted entry)."""
        if not (_NAME.fullmatch(name) and _NAME.fullmatch(version)):  # a record's names stay inside the registry
            return {}
        path = self.root / name / version / "hotfix.json"
        manifest = _load_json(path, "hotfix manifest") if path.is_file() else {}
        parts = manifest.get(COMPACTED_FROM) if isinstance(manifest, dict) else None
        return dict(parts) if isinstance(parts, dict) else {}

    def rollback(self, name: str | None = None, *, note: str | None = None) -> dict[str, Any]:
        """Restores the state before the latest change (of ``name``, if given); returns the record."""
        with self.locked():
            after, seq = self.plan_rollback(name)
            return self._commit(after, "rollback", name, after.get(name) if name else None, note, undoes=seq)
