"""Objectives: learn (fixed line), unlearn (buggy line), retain (stay close to the base model)."""

from codehotfix.objectives.base import OBJECTIVES, LossOutput, Objective, ObjectiveConfig
from codehotfix.objectives import learn, retain, unlearn  # noqa: F401  (fill the registry)
from codehotfix.objectives.mix import ObjectiveMix, build_objectives

__all__ = ["OBJECTIVES", "LossOutput", "Objective", "ObjectiveConfig", "ObjectiveMix", "build_objectives"]
