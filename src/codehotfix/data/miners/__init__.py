"""Miners turn a project's own history into hotfix cases: one-line bug fixes from git commits
(``mine_repos``) or from a unified diff (``mine_patch``), registered in MINERS as "git" and "patch".

See docs/mining.md; the CLI is ``codehotfix mine``.
"""

from codehotfix.data.miners.base import MINERS, MinerConfig, MineResult, dedup_key, verify_case
from codehotfix.data.miners.patterns import PATTERNS, classify

# Explicit imports fill the registry (no folder scanning).
from codehotfix.data.miners.patch import mine_patch, parse_unified_diff  # noqa: E402
from codehotfix.data.miners.git import mine_repos, state_path  # noqa: E402

__all__ = [
    "MINERS",
    "MinerConfig",
    "MineResult",
    "PATTERNS",
    "classify",
    "dedup_key",
    "mine_patch",
    "mine_repos",
    "parse_unified_diff",
    "state_path",
    "verify_case",
]
