"""Recipes: thin end-to-end runs composed from the components (config → data → model → train → eval)."""

from codehotfix.recipes.demo import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
