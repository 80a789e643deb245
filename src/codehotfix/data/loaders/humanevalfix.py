"""Loader for HumanEvalFix (``humanevalpack_python.jsonl``, OctoPack, Muennighoff et al. 2023).

Each task has a ``buggy_solution`` and a ``canonical_solution`` of the function in ``prompt``
(declaration + docstring). A task becomes a case only when the two solutions have the same number
of lines and differ in exactly one line:

    id       ``HumanEvalFix/<task_id>`` (``HumanEvalFix/Python/0``)
    prefix   ``prompt`` + the solution lines before the differing line
    buggy    that line of ``buggy_solution``;  fixed: that line of ``canonical_solution``
    suffix   the canonical solution's lines after it (``prefix + fixed + "\\n" + suffix`` is
             ``prompt + canonical_solution``)
    group    ``task_id``
    language "python"
    source   task_id, entry_point, test, bug_type, canonical_solution, buggy_solution

Every other task is left out with one ``LeftOutWarning`` naming the task ids by reason (a line
added or removed, several lines changed, or a change only in whitespace such as ``' '.join`` vs
``''.join``, which ``normalize_line`` cannot tell apart). These are HumanEval's own tasks: do not
train on them and also measure HumanEval.

Usage: ``load_cases("humanevalpack_python.jsonl")``.
"""

from __future__ import annotations

from pathlib import Path

from codehotfix.data.cases import HotfixCase, iter_jsonl
from codehotfix.data.loaders._records import CaseCollector, get_str, require_fields
from codehotfix.data.loaders.base import LOADERS
from codehotfix.errors import DataError

__all__ = ["load_humanevalfix"]

_REQUIRED = ("task_id", "prompt", "buggy_solution", "canonical_solution", "entry_point", "test")
_LINE_COUNT = "buggy and canonical solutions have different line counts (a line added or removed)"
_SEVERAL = "buggy and canonical solutions differ in more than one line"


@LOADERS.register("humanevalfix")
def load_humanevalfix(path: Path) -> list[HotfixCase]:
    """Loads the HumanEvalPack Python JSONL, keeping tasks whose fix replaces exactly one line.

    Raises:
        DataError: naming file, line and field, for malformed JSON, a missing or mistyped field,
            a duplicate task id or an empty file.
    """
    path = Path(path)
    collector = CaseCollector(path, "buggy_solution", "canonical_solution")
    for where, obj in iter_jsonl(path):
        record = require_fields(obj, _REQUIRED, where)
        task_id = get_str(record, "task_id", where)
        case_id = f"HumanEvalFix/{task_id}"
        prompt = get_str(record, "prompt", where)
        buggy_lines = get_str(record, "buggy_solution", where).split("\n")
        fixed_lines = get_str(record, "canonical_solution", where).split("\n")
        if len(buggy_lines) != len(fixed_lines):
            collector.leave_out(case_id, _LINE_COUNT, where)
            continue
        diff = [i for i, (b, f) in enumerate(zip(buggy_lines, fixed_lines)) if b != f]
        if not diff:
            raise DataError(f"{where}: fields 'buggy_solution' and 'canonical_solution' are identical")
        if len(diff) > 1:
            collector.leave_out(case_id, _SEVERAL, where)
            continue
        if prompt and not prompt.endswith("\n"):
            raise DataError(f"{where}: field 'prompt' must end with a newline (the solution starts a line)")
        i = diff[0]
        case = HotfixCase(
            id=case_id,
            prefix=prompt + "".join(line + "\n" for line in fixed_lines[:i]),
            buggy=buggy_lines[i],
            fixed=fixed_lines[i],
            suffix="\n".join(fixed_lines[i + 1 :]),
            language="python",
            group=task_id,
            source={
                "task_id": task_id,
                "entry_point": record["entry_point"],
                "test": record["test"],
                "bug_type": record.get("bug_type"),
                "canonical_solution": record["canonical_solution"],
                "buggy_solution": record["buggy_solution"],
            },
        )
        collector.add(case, where)
    return collector.finish()
