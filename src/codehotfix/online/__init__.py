"""Hotfixes without training: a steering comment in the prompt, and a decoding-time guard.

Both are built from a set of fix cases (the same JSONL a trained hotfix learns from) and apply, per
``MatchConfig.mode``, where a prompt's context matches one of them (``"context"``, ``matching.py``)
or wherever the edit a case makes applies (``"edit"``, ``edits.py``: ``yaml.`` + ``load(`` →
``safe_load(`` in any code):

* ``PromptHotfix`` (prompt.py): inserts a comment naming the fixed line above the completion point;
* ``BuggyLineGuard`` (guard.py): a ``transformers`` logits processor that, when the line being
  written is about to become a known buggy line, keeps it on the fixed one.

``codehotfix eval CASES --online FIXES.jsonl`` / ``--guard FIXES.jsonl`` evaluates them like any
hotfix (see docs/online-hotfix.md).
"""

from codehotfix.online.edits import EditRule, RuleSet, derive_rule, derive_rules
from codehotfix.online.guard import BuggyLineGuard, GuardConfig, make_guard_processor, normalize_prefix
from codehotfix.online.matching import MATCH_MODES, COMMENT_SYNTAX, Match, MatchConfig, comment_prefix, match_cases
from codehotfix.online.prompt import TEMPLATES, PromptHotfix, PromptHotfixConfig, changed_spans

__all__ = ["EditRule", "RuleSet", "derive_rule", "derive_rules", "MATCH_MODES", "BuggyLineGuard", "GuardConfig", "make_guard_processor", "normalize_prefix", "COMMENT_SYNTAX", "Match",
           "MatchConfig", "comment_prefix", "match_cases", "TEMPLATES", "PromptHotfix", "PromptHotfixConfig",
           "changed_spans"]
