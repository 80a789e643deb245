"""Loader for the CSV of Jesse et al., "Large Language Models and Simple, Stupid Bugs" (MSR 2023).

The paper's ``sstub_input_no_comments.csv`` (Zenodo 7743263) has the columns ``id, identifier,
condition, bug, fix, post_conditional, bugType, buggy_commit, repository_url, bug_timestamp,
num_commits_til_fix``. ``condition + bug + post_conditional`` is the buggy code and
``condition + fix + post_conditional`` the fixed code; ``bug``/``fix`` are the changed statement,
which need not start or end a line. A row maps to:

    id       ``jesse/<id>``
    prefix   ``condition`` up to and including its last newline ("" if it has none)
    buggy    the rest of ``condition``'s last line + ``bug`` + ``post_conditional`` up to its first
             newline: the whole buggy line. fixed: the same with ``fix``.
    suffix   ``post_conditional`` after that newline
    group    ``repository_url`` (None where the column is absent or empty)
    language "java"
    source   every other column (identifier, bugType, buggy_commit, repository_url, …)

Only ``id, condition, bug, fix, post_conditional`` are required; a file without them fails with
one error listing the columns found. Rows whose bug or fix spans several lines are left out with a
``LeftOutWarning``. Record positions in errors are the physical line where the row starts.

Usage: ``load_cases("sstub_input_no_comments.csv")``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders._records import MULTI_LINE, CaseCollector
from codehotfix.data.loaders.base import LOADERS
from codehotfix.errors import DataError
from codehotfix.files import iter_lines

__all__ = ["load_jesse_csv"]

_REQUIRED = ("id", "condition", "bug", "fix", "post_conditional")
_CODE_COLUMNS = ("condition", "bug", "fix", "post_conditional")
# Code columns hold whole files' worth of context, past csv's default 128 KiB field limit.
_FIELD_LIMIT = 2**31 - 1


@LOADERS.register("jesse_csv")
def load_jesse_csv(path: Path) -> list[HotfixCase]:
    """Loads the Jesse et al. SStuB CSV.

    Raises:
        DataError: naming file, line and column, for a missing column, a malformed or short row,
            an identical bug and fix, a duplicate id or an empty file.
    """
    path = Path(path)
    collector = CaseCollector(path, "bug", "fix")
    old_limit = csv.field_size_limit(_FIELD_LIMIT)
    try:
        # Lines are decoded one by one (iter_lines), so bytes that are not UTF-8 are reported at
        # their own line, not wherever a buffered text reader happened to decode them.
        reader = csv.DictReader(line for _, line in iter_lines(path))
        try:
            columns = reader.fieldnames
        except csv.Error as e:
            raise DataError(f"{path}:1: malformed CSV header ({e})") from None
        if columns is None:
            raise DataError(f"{path}: contains no records (not even a header row)")
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise DataError(
                f"{path}: missing required column(s) {', '.join(map(repr, missing))}; "
                f"found columns: {', '.join(columns)}"
            )
        start = reader.line_num + 1
        while True:
            where = f"{path}:{start}"
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise DataError(f"{where}: malformed CSV row ({e})") from None
            _add_row(collector, row, len(columns), where)
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(old_limit)
    return collector.finish()


def _add_row(collector: CaseCollector, row: dict, n_columns: int, where: str) -> None:
    # DictReader keeps extra fields under the key None and fills missing ones with None.
    if None in row:
        n_fields = n_columns + len(row[None])
        raise DataError(f"{where}: row has {n_fields} fields but the header has {n_columns}")
    short = [name for name, value in row.items() if value is None]
    if short:
        raise DataError(f"{where}: row is missing column(s) {', '.join(map(repr, short))} (short row)")
    record_id = row["id"].strip()
    if not record_id:
        raise DataError(f"{where}: column 'id' is empty")
    case_id = f"jesse/{record_id}"
    condition, bug, fix, post = (row[c] for c in _CODE_COLUMNS)
    cut = condition.rfind("\n") + 1
    prefix, head = condition[:cut], condition[cut:]
    # A bug that ends its line carries the newline; otherwise the line goes on in post_conditional.
    ends_line = bug.endswith("\n")
    bug, fix = bug.removesuffix("\n"), fix.removesuffix("\n")
    if "\n" in bug or "\n" in fix:
        collector.leave_out(case_id, MULTI_LINE, where)
        return
    if ends_line:
        tail, suffix = "", post
    else:
        tail, _, suffix = post.partition("\n")
    case = HotfixCase(
        id=case_id,
        prefix=prefix,
        buggy=head + bug + tail,
        fixed=head + fix + tail,
        suffix=suffix,
        language="java",
        group=row.get("repository_url") or None,
        source={k: v for k, v in row.items() if k not in _CODE_COLUMNS},
    )
    collector.add(case, where)
