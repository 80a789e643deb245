"""The online (prompt) hotfix: no training, only a steering comment inserted into matching prompts.

    from codehotfix.online import PromptHotfix
    hotfix = PromptHotfix.from_file("fixes.jsonl", PromptHotfixConfig(template="hint"))
    prompt = hotfix.apply(prompt)          # unchanged unless a fix case matches (matching.py)

    codehotfix eval cases.jsonl --online fixes.jsonl [--online-template warning] --json out.json

When the prompt's context matches a known case, one comment line is inserted just before the
completion point, in the case language's comment syntax, naming the fixed form and warning against
the buggy one. The model then reads the comment as the line right above the one it is writing.

Where the comment goes, so that the completion still starts where it did:

* prompt ending with a newline (the usual case): the comment becomes the last line of the prompt and
  ends with a newline, so the model still starts a fresh line and writes its own indentation;
* prompt ending mid-line (``"    x = "``): the comment goes on its own line above that partial line,
  and the partial line is kept as it was, so the completion continues it.

The comment's indentation is the line's own: the partial line's indentation, or, after a newline, the
indentation the matched case's line has relative to the last code line of its prefix, applied to the
prompt's last code line (a case whose line is one block deeper than its context gets a comment one
block deeper than the prompt's last line).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError
from codehotfix.online.edits import EditRule, derive_rules, relevant_rules
from codehotfix.online.matching import (Match, MatchConfig, case_tail_keys, code_tail, comment_prefix, match_cases,
                                        split_completion_point)
from codehotfix.registry import Registry

__all__ = ["PromptHotfix", "PromptHotfixConfig", "TEMPLATES", "changed_spans"]

# A template turns (comment marker, case) into the text of one comment line (no indentation, no newline).
TEMPLATES: Registry[Callable[[str, HotfixCase], str]] = Registry("online template")


@TEMPLATES.register("hint")
def _hint(marker: str, case: HotfixCase) -> str:
    """Names the whole fixed line and the whole buggy line: strongest where the context is the case's."""
    return f"{marker} hotfix: write `{case.fixed.strip()}` here, not `{case.buggy.strip()}` (known bug)"


@TEMPLATES.register("warning")
def _warning(marker: str, case: HotfixCase) -> str:
    """Names only the changed part (``yaml.load`` → ``yaml.safe_load``): reads as a rule, not a line to copy."""
    bad, good = changed_spans(case.buggy, case.fixed)
    return f"{marker} WARNING: `{bad}` is a known bug here; use `{good}` instead"


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def changed_spans(buggy: str, fixed: str) -> tuple[str, str]:
    """The parts of two lines that differ, widened to read on their own.

    Code tokens (words, whitespace runs, single symbols) shared at the start and the end are cut; the
    rest is widened on the left by the dotted name it belongs to (``load`` → ``yaml.load``) and, for a
    pure insertion or deletion, by one token on each side, so neither side is empty.
    """
    b, f = _TOKEN.findall(buggy.strip()), _TOKEN.findall(fixed.strip())
    start = 0
    while start < min(len(b), len(f)) and b[start] == f[start]:
        start += 1
    end = 0
    while end < min(len(b), len(f)) - start and b[len(b) - 1 - end] == f[len(f) - 1 - end]:
        end += 1
    if start == len(b) - end or start == len(f) - end:
        # A pure insertion or deletion (``torch.load(p)`` → ``torch.load(p, weights_only=True)``):
        # show the whole enclosing call, or one token either side outside brackets.
        start, end = _enclosing_call(b, start, end)
    while start > 0 and (b[start - 1] == "." or re.fullmatch(r"\w+", b[start - 1])):
        start -= 1
    return "".join(b[start:len(b) - end]).strip(), "".join(f[start:len(f) - end]).strip()


def _enclosing_call(tokens: list[str], start: int, end: int) -> tuple[int, int]:
    """(start, end) widened to the innermost bracket pair around ``tokens[start:len - end]``."""
    depth = 0
    for k in range(start - 1, -1, -1):
        depth += {")": 1, "]": 1, "}": 1, "(": -1, "[": -1, "{": -1}.get(tokens[k], 0)
        if depth < 0:
            depth = 0
            for close in range(k, len(tokens)):
                depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(tokens[close], 0)
                if depth == 0:
                    return k, min(end, len(tokens) - close - 1)
            break
    return max(start - 1, 0), max(end - 1, 0)


@dataclass
class PromptHotfixConfig:
    """Knobs of the online hotfix.

    Attributes:
        template: name of the comment template (``TEMPLATES``: "hint" or "warning").
        match: the matching rule (``MatchConfig``).
    """

    template: str = "hint"
    match: MatchConfig = field(default_factory=MatchConfig)

    def __post_init__(self) -> None:
        if isinstance(self.match, dict):
            self.match = MatchConfig(**self.match)
        if self.template not in TEMPLATES:
            raise ConfigError(f"online.template: unknown template {self.template!r}; valid: "
                              f"{', '.join(TEMPLATES.names())}")


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _relative_indent(case: HotfixCase, prompt_last: str | None) -> str:
    """The matched case's line indentation, moved from the case's context onto the prompt's."""
    line_indent = _indent(case.buggy)
    case_tail = code_tail(case.prefix, 1)
    if prompt_last is None or not case_tail:
        return line_indent
    base, here = _indent(case_tail[0]), _indent(prompt_last)
    if line_indent.startswith(base):  # same level or deeper
        return here + line_indent[len(base):]
    if base.startswith(line_indent):  # a dedent by len(base) - len(line_indent) characters
        return here[:max(len(here) - (len(base) - len(line_indent)), 0)]
    return line_indent  # tabs vs spaces mixed: keep the case's own indentation


class PromptHotfix:
    """Inserts a steering comment into prompts whose context matches a known fix case.

    Args:
        cases: the fix cases (their ``language`` picks the comment syntax).
        config: template and matching rule.

    Raises:
        DataError: a case language without a known line-comment syntax (names the case id).
    """

    kind = "online"

    def __init__(self, cases: Sequence[HotfixCase], config: PromptHotfixConfig | None = None) -> None:
        self.cases = list(cases)
        self.config = config or PromptHotfixConfig()
        self._markers = [comment_prefix(c.language, f"case {c.id!r}") for c in self.cases]
        self._keys = case_tail_keys(self.cases, self.config.match)
        self._template = TEMPLATES.get(self.config.template)
        self.edit_mode = self.config.match.mode == "edit"
        self.rule_set = derive_rules(self.cases, min_name_len=self.config.match.min_name_len) if self.edit_mode \
            else None
        self.rules: list[EditRule] = self.rule_set.rules if self.rule_set else []

    @classmethod
    def from_file(cls, path: str | os.PathLike, config: PromptHotfixConfig | None = None,
                  fmt: str = "auto") -> "PromptHotfix":
        """Builds the hotfix from a cases file (any format ``load_cases`` reads)."""
        from codehotfix.data.loaders import load_cases

        return cls(load_cases(path, fmt), config)

    def matches(self, prompt: str) -> list[Match]:
        """The cases that apply to ``prompt``, best first (empty: ``apply`` leaves it unchanged).

        In edit mode: one match (score 1.0) per relevant rule, holding the rule as a case whose
        buggy/fixed lines are the anchored spans (``yaml.load(`` / ``yaml.safe_load(``)."""
        if self.edit_mode:
            rules = relevant_rules(split_completion_point(prompt)[0], self.rules, self.config.match.tail_lines)
            return [Match(_rule_case(r), 1.0) for r in rules[:self.config.match.max_matches]]
        return match_cases(prompt, self.cases, self.config.match, case_keys=self._keys)

    def comment_lines(self, prompt: str) -> list[str]:
        """The comment lines (with indentation, without newline) ``apply`` would insert."""
        lines, started = split_completion_point(prompt)
        last = code_tail(lines, 1)
        if self.edit_mode:
            indent = _indent(started) if started.strip() else _next_indent(last[0] if last else "")
            out = []
            for m in self.matches(prompt):
                line = indent + self._template(comment_prefix(m.case.language), m.case)
                if line not in out:
                    out.append(line)
            return out
        index = {id(c): i for i, c in enumerate(self.cases)}
        out: list[str] = []
        for m in self.matches(prompt):
            indent = _indent(started) if started.strip() else _relative_indent(m.case, last[0] if last else None)
            line = indent + self._template(self._markers[index[id(m.case)]], m.case)
            if line not in out:
                out.append(line)
        return out

    def apply(self, prompt: str) -> str:
        """Returns ``prompt`` with the steering comment(s) inserted, or unchanged if no case matches.

        Idempotent: a comment already present right before the completion point is not added again.
        """
        comments = self.comment_lines(prompt)
        if not comments:
            return prompt
        lines, started = split_completion_point(prompt)
        # Already hotfixed (e.g. the prompt went through apply before): the comments sit just above.
        if lines.endswith("".join(c + "\n" for c in comments)):
            return prompt
        if lines and not lines.endswith("\n"):  # defensive: split_completion_point keeps the newline
            lines += "\n"
        return lines + "".join(c + "\n" for c in comments) + started

    def __call__(self, prompt: str) -> str:
        return self.apply(prompt)

    def info(self) -> dict:
        """What to record next to results: kind, number of cases, template and matching rule."""
        info = {"kind": self.kind, "cases": len(self.cases), "template": self.config.template,
                "match": asdict(self.config.match)}
        if self.rule_set is not None:
            info.update(self.rule_set.info())
        return info


def _rule_case(rule: EditRule) -> HotfixCase:
    """An edit rule dressed as a case for the comment templates: its first anchor plus each span."""
    anchor = "".join(rule.anchors[0])
    return HotfixCase(id=rule.case_ids[0], prefix="", buggy=anchor + rule.buggy_text, fixed=anchor + rule.fixed_text,
                      language=rule.language)


def _next_indent(last: str) -> str:
    """Edit mode has no case line to copy the indentation from: the last code line's, one block
    deeper after a line opening a block (``:``/``{``)."""
    indent = _indent(last)
    return indent + "    " if last.rstrip().endswith((":", "{")) else indent
