"""Planning a rollback of the registry's enabled set from its history records.

``HotfixStore.rollback`` and a server's ``POST /admin/rollback`` both switch to what ``plan_rollback``
returns, so the CLI and the server always agree. The rules:

- Without a name, the latest change still in effect is undone as a whole: each hotfix it touched
  goes back to where it was before it; changes to other hotfixes are left alone.
- With a name, only that hotfix goes back to where it was before its latest change — except when
  that change is a compaction (action ``compact``) and the name is the compacted entry: then the
  compaction is undone as a whole, so its constituents are served again (taking the compacted entry
  off alone would leave them served by nothing). That is refused when a hotfix the compaction
  touched has changed since, since undoing it would overwrite the later change.
- No rollback may serve one hotfix twice (on its own and inside a compacted entry, or inside two).

Pure functions over records and the enabled set; the store passes in what they read from disk.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from codehotfix.errors import CodehotfixError

__all__ = ["plan_rollback", "touched"]

# (name, version) -> the constituents a compacted entry holds (name -> version); {} for any other entry.
CompactedFrom = Callable[[str, str], dict[str, str]]


def touched(record: dict[str, Any]) -> list[str]:
    """The hotfixes whose enabled version ``record`` changed, in the order the record names them."""
    before, after = record["before"], record["after"]
    return [n for n in {**before, **after} if before.get(n) != after.get(n)]


def plan_rollback(history: Sequence[dict[str, Any]], enabled: dict[str, str], name: str | None,
                  compacted_from: CompactedFrom, error: type[CodehotfixError]) -> tuple[dict[str, str], int]:
    """The enabled set a rollback restores, and the seq of the change it undoes (rules: module docstring).

    Args:
        history: every history record, oldest first (the whole log: an undone change may be old).
        enabled: the enabled set now.
        name: roll back only this hotfix (None: the latest change as a whole).
        compacted_from: reads a stored entry's constituents.
        error: the exception to raise (the store's StoreError).

    Raises:
        error: nothing to roll back; a compaction whose hotfixes changed since; a hotfix served twice.
    """
    undone = {h["undoes"] for h in history if "undoes" in h}
    changes = [h for h in history if "undoes" not in h and h["seq"] not in undone]
    if name is not None:
        changes = [h for h in changes if h["before"].get(name) != h["after"].get(name)]
    if not changes:
        raise error("nothing to roll back" + (f" for hotfix {name!r}" if name else ""))
    last = changes[-1]
    whole = name is None or _is_compaction_of(last, name, compacted_from)
    if whole and name is not None:
        _refuse_changed_since(last, enabled, name, error)
    after = dict(enabled)
    # Undo only what that change touched, so changes to other hotfixes made since (or rolled back
    # by name since) are left alone.
    for n in touched(last) if whole else [name]:
        after.pop(n, None)
        if n in last["before"]:
            after[n] = last["before"][n]
    _refuse_served_twice(name, enabled, after, compacted_from, error)
    return after, last["seq"]


def _is_compaction_of(record: dict[str, Any], name: str, compacted_from: CompactedFrom) -> bool:
    """Whether ``record`` is a compaction that switched to (or, dropping, away from) the compacted
    entry ``name``. A constituent named alone is not: it goes the ordinary way (and is refused when a
    compacted entry still holds it)."""
    if record.get("action") != "compact":
        return False
    versions = (record["after"].get(name), record["before"].get(name))
    return any(compacted_from(name, v) for v in versions if v is not None)


def _refuse_changed_since(record: dict[str, Any], enabled: dict[str, str], name: str,
                          error: type[CodehotfixError]) -> None:
    """Refuses to undo the compaction ``record`` when a hotfix it touched is no longer as it left it."""
    for n in touched(record):
        then, now = record["after"].get(n), enabled.get(n)
        if then != now:
            fix = f"`codehotfix hotfix rollback {n}`" + (f" or `codehotfix hotfix disable {n}`" if now else "")
            raise error(f"rolling back {name!r} undoes the compaction that enabled it (change {record['seq']}), but "
                        f"hotfix {n!r} changed since ({then or 'not enabled'} then, {now or 'not enabled'} now) and "
                        f"undoing the compaction would overwrite that; first run {fix}, then roll back {name} again")


def _servings(enabled: dict[str, str], compacted_from: CompactedFrom) -> dict[str, list[str]]:
    """Where each hotfix is served: on its own, or inside an enabled compacted entry."""
    out: dict[str, list[str]] = {}
    for n, v in enabled.items():
        parts = compacted_from(n, v)
        for c in parts or [n]:
            out.setdefault(c, []).append(f"inside {n} {v}" if parts else f"{n} {v} on its own")
    return out


def _refuse_served_twice(name: str | None, before: dict[str, str], after: dict[str, str],
                         compacted_from: CompactedFrom, error: type[CodehotfixError]) -> None:
    """Refuses a rollback that would serve a hotfix twice where it is served once now. Twice served
    before (``hotfix enable`` of a constituent beside its compaction) is the user's own choice."""
    now = _servings(before, compacted_from)
    for c, where in _servings(after, compacted_from).items():
        if len(where) < 2 or len(now.get(c, [])) >= 2:
            continue
        holder = next(n for n, v in after.items() if c in compacted_from(n, v))
        if c == name and c in after and c not in before:
            raise error(f"hotfix {name!r} is not enabled itself: it is compacted into {holder} {after[holder]}, "
                        f"which stays enabled, so rolling it back by name would serve it twice; run "
                        f"`codehotfix hotfix compact --drop {name}` (rebuilds {holder} without it), or "
                        "`codehotfix hotfix rollback` without a name to undo the latest change as a whole")
        fix = f"disable {c} first (`codehotfix hotfix disable {c}`)" if c in before else "disable one of them first"
        raise error(f"rolling back {repr(name) if name else 'the latest change'} would serve hotfix {c!r} twice "
                    f"({' and '.join(where)}); {fix}, then roll back again")
