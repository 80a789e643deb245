"""Objectives: learn (fixed line), unlearn (buggy line), retain (stay close to the base model).

Registered (see docs/objectives.md): fixed_ce, snippet_ce, suffix_ce (learn); unlikelihood, penalize,
gradient_ascent, npo, dpo, simpo, orpo (unlearn); kl_context, kl_corpus, kl_suffix (retain).
"""

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, ObjectiveConfig
from codehotfix.objectives import learn, preference, retain, unlearn  # noqa: F401  (fill the registry)
from codehotfix.objectives.mix import ObjectiveMix, build_objectives

__all__ = ["OBJECTIVES", "LossOutput", "Objective", "ObjectiveConfig", "ObjectiveMix", "build_objectives"]
