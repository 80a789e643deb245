"""Hotfix after hotfix: sequences of hotfixes under four strategies, and continuous hotfixing.

- ``groups``: the hotfixes of a sequence (pack topics, or groups of a cases file), each split into
  training and held-out contexts.
- ``strategies``: stacked, merged (cat / svd), continual, retrained (``STRATEGIES``).
- ``runner``: ``run_sequence`` — train, apply and measure step by step, resumable; writes the
  retention matrix (``retention``) and per-step raw results.
- ``watch``: ``watch_once`` / ``watch`` — mine new fixes from repositories, train, check, stage and
  enable hotfixes in a registry, with an audit log.

See docs/sequence.md.
"""

from codehotfix.sequence.config import STRATEGY_NAMES, SequenceConfig
from codehotfix.sequence.groups import HotfixGroup, collect_groups, groups_from_cases, groups_from_pack
from codehotfix.sequence.retention import build_retention, retention_markdown, retention_table
from codehotfix.sequence.runner import run_sequence
from codehotfix.sequence.strategies import STRATEGIES

__all__ = ["SequenceConfig", "STRATEGY_NAMES", "STRATEGIES", "HotfixGroup", "collect_groups", "groups_from_cases", "groups_from_pack",
           "run_sequence", "build_retention", "retention_markdown", "retention_table"]
