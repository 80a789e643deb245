"""When does a known fix case apply to a prompt? The one matching rule of the online hotfixes.

Both online hotfixes (``prompt.py``'s steering comment and ``guard.py``'s decoding guard) ask the
same question: is the model about to write the line of a known case, in that case's context?

The rule (``match_cases``):

1. Split the prompt at the completion point. If the prompt ends mid-line, that partial line is the
   *statement being started*; otherwise it is empty.
2. The case's *tail* is the last ``tail_lines`` code lines of its ``prefix``: blank lines and
   comment-only lines are skipped (so a steering comment above the completion point does not change
   the match), each line is normalized like the classifier does (``normalize_line``: whitespace
   removed outside string literals) and the lines are joined with newlines. The prompt's tail is the
   same thing computed on the prompt's complete lines, taking as many lines as the case's tail has
   (a case whose prefix holds one code line is compared with the prompt's last code line only: that
   is all the case knows about its context).
3. score = ``difflib.SequenceMatcher`` ratio of the two tails (2·matching characters / total
   characters, in [0, 1]; 1.0 for identical tails). Two empty tails (a line that starts a file) score
   1.0; one empty tail scores 0.0.
4. The case matches when score ≥ ``threshold`` and the statement being started (if any) is
   consistent with the case: its normalized text is a prefix of the normalized buggy or fixed line.

So a case matches "the same place in (a version of) the same code": the case's own context scores
1.0, a renamed variable or reformatted call a little less, another function that happens to use the
same API usually far less (see docs/online-hotfix.md for numbers on the default pack). Lower
``threshold`` to reach further, at the risk of steering unrelated lines.

Cost: one SequenceMatcher per case per distinct prompt, after two cheap upper bounds
(``real_quick_ratio``, ``quick_ratio``) that skip most non-matching cases.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.errors import ConfigError, DataError

__all__ = ["MATCH_MODES", "MatchConfig", "Match", "split_completion_point", "code_tail", "match_cases", "case_tail_keys",
           "comment_prefix", "COMMENT_SYNTAX"]

# Line-comment syntax per case language. Unknown languages are rejected when a hotfix is built, not
# guessed: a wrong comment marker would put code into the prompt.
COMMENT_SYNTAX: dict[str, str] = {
    **dict.fromkeys(["python", "ruby", "shell", "bash", "sh", "r", "perl", "yaml", "toml", "julia", "nim"], "#"),
    **dict.fromkeys(["java", "c", "cpp", "c++", "csharp", "c#", "javascript", "js", "typescript", "ts", "go",
                     "rust", "kotlin", "swift", "scala", "php", "dart", "groovy", "objective-c", "solidity"], "//"),
    **dict.fromkeys(["sql", "lua", "haskell", "ada"], "--"),
}


def comment_prefix(language: str, where: str = "") -> str:
    """The line-comment marker of ``language`` (case-insensitive).

    Raises:
        DataError: for a language without a known line-comment syntax, listing the known ones.
    """
    marker = COMMENT_SYNTAX.get((language or "python").lower())
    if marker is None:
        at = f"{where}: " if where else ""
        raise DataError(f"{at}field 'language': no known line-comment syntax for {language!r}; "
                          f"known: {', '.join(sorted(COMMENT_SYNTAX))}")
    return marker


MATCH_MODES = ("context", "edit")


@dataclass
class MatchConfig:
    """The matching rule's knobs.

    Attributes:
        mode: "context" (this module: the prompt's last code lines must resemble a case's) or "edit"
            (``edits.py``: a context-free edit rule per case; reaches new code, see docs/online-hotfix.md).
        tail_lines: how many code lines before the completion point are compared (more = stricter);
            in edit mode, how many recent code lines are searched for a rule's name.
        threshold: minimum similarity in [0, 1] of the prompt's tail and the case's tail (context mode).
        max_matches: at most this many cases (rules, in edit mode) apply to one prompt (best first).
        min_name_len: edit mode: a rule needs a name of at least this many characters in its anchor
            and in its buggy span; shorter ones are rejected as too generic.
        force: edit mode, what the guard does at a rule's divergence point: "heading" forces the fix
            only when the model's most likely next token writes the buggy span (and otherwise only
            masks the tokens that would), "always" forces it whenever the anchor is there.
    """

    mode: str = "context"
    tail_lines: int = 4
    threshold: float = 0.8
    max_matches: int = 1
    min_name_len: int = 3
    force: str = "heading"

    def __post_init__(self) -> None:
        errors = []
        if self.mode not in MATCH_MODES:
            errors.append(f"match.mode must be one of {', '.join(MATCH_MODES)}, got {self.mode!r}")
        if self.force not in ("heading", "always"):
            errors.append(f"match.force must be 'heading' or 'always', got {self.force!r}")
        if self.min_name_len < 1:
            errors.append(f"match.min_name_len must be >= 1, got {self.min_name_len}")
        if self.tail_lines < 1:
            errors.append(f"match.tail_lines must be >= 1, got {self.tail_lines}")
        if not 0.0 <= self.threshold <= 1.0:
            errors.append(f"match.threshold must be in [0, 1], got {self.threshold}")
        if self.max_matches < 1:
            errors.append(f"match.max_matches must be >= 1, got {self.max_matches}")
        if errors:
            raise ConfigError("; ".join(errors))


@dataclass(frozen=True)
class Match:
    """A case that applies to a prompt, with its tail similarity."""

    case: HotfixCase
    score: float


def split_completion_point(prompt: str) -> tuple[str, str]:
    """Splits ``prompt`` into (complete lines, statement being started).

    ``"a\\nb = "`` → ``("a\\n", "b = ")``; a prompt ending with a newline has an empty partial line.
    """
    cut = prompt.rfind("\n") + 1
    return prompt[:cut], prompt[cut:]


def _is_code(line: str, comment_markers: Sequence[str]) -> bool:
    stripped = line.strip()
    return bool(stripped) and not any(stripped.startswith(m) for m in comment_markers)


_ALL_MARKERS = tuple(sorted(set(COMMENT_SYNTAX.values())))


def code_tail(text: str, n: int) -> list[str]:
    """The last ``n`` code lines of ``text`` (blank and comment-only lines skipped), in order, raw."""
    out: list[str] = []
    for line in reversed(text.split("\n")):
        if _is_code(line, _ALL_MARKERS):
            out.append(line)
            if len(out) == n:
                break
    return out[::-1]


def _tail_key(text: str, n: int) -> tuple[int, str]:
    lines = code_tail(text, n)
    return len(lines), "\n".join(normalize_line(line) for line in lines)


def _similarity(a: str, b: str, threshold: float) -> float:
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # Cheap upper bounds first: most cases are far from the prompt.
    if sm.real_quick_ratio() < threshold or sm.quick_ratio() < threshold:
        return 0.0
    return sm.ratio()


def _started_ok(started: str, case: HotfixCase) -> bool:
    s = normalize_line(started)
    return not s or normalize_line(case.buggy).startswith(s) or normalize_line(case.fixed).startswith(s)


def match_cases(prompt: str, cases: Sequence[HotfixCase], cfg: MatchConfig | None = None,
                *, case_keys: Sequence[tuple[int, str]] | None = None) -> list[Match]:
    """The cases whose context matches ``prompt`` (see the module docstring), best first.

    Args:
        prompt: the text the model will continue.
        cases: known fix cases.
        cfg: the rule's knobs.
        case_keys: precomputed tails of ``cases`` (``case_tail_keys``), to avoid recomputing them.

    Returns:
        At most ``cfg.max_matches`` matches with score ≥ ``cfg.threshold``, highest score first (ties:
        input order).
    """
    cfg = cfg or MatchConfig()
    lines, started = split_completion_point(prompt)
    prompt_tail = [normalize_line(line) for line in code_tail(lines, cfg.tail_lines)]
    keys = case_keys if case_keys is not None else case_tail_keys(cases, cfg)
    found = []
    for i, (case, (n_lines, case_key)) in enumerate(zip(cases, keys)):
        # A case without context lines starts a file: only a prompt without code lines matches it.
        key = "\n".join(prompt_tail[max(len(prompt_tail) - n_lines, 0):] if n_lines else prompt_tail)
        score = _similarity(key, case_key, cfg.threshold)
        if score >= cfg.threshold and _started_ok(started, case):
            found.append((-score, i, Match(case, round(score, 4))))
    found.sort(key=lambda t: (t[0], t[1]))
    return [m for _, _, m in found[:cfg.max_matches]]


def case_tail_keys(cases: Sequence[HotfixCase], cfg: MatchConfig) -> list[tuple[int, str]]:
    """(number of code lines, normalized tail) of each case's prefix, computed once per hotfix."""
    return [_tail_key(c.prefix, cfg.tail_lines) for c in cases]
