"""Baselines the speed benchmarks compare codehotfix against: the paper's recipe on Hugging Face
``Trainer`` (``paper_recipe``) and TRL's ``DPOTrainer`` (``trl_dpo``). Bench code, not part of the
codehotfix package."""

from bench.baselines.paper_recipe import PaperRecipeConfig, SnippetCollator, build_paper_trainer, snippet_examples
from bench.baselines.trl_dpo import DPOBaselineConfig, build_dpo_trainer, dpo_dataset

__all__ = ["PaperRecipeConfig", "SnippetCollator", "build_paper_trainer", "snippet_examples",
           "DPOBaselineConfig", "build_dpo_trainer", "dpo_dataset"]
