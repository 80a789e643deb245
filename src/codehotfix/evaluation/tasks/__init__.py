"""Evaluation tasks behind one interface (``base.Task``): rates (the line / split / window completion
events), humaneval, locality, perplexity, variants, execfix, registered in ``TASKS``.

Each task has a config dataclass embedding the shared ``GenerationConfig`` (the one place its
defaults live), ``run(model, tokenizer, cfg) -> TaskResult``, and the hooks the report reads its
files back with. The evaluation modules (``evaluation/rates.py`` …) stay the implementations; the
tasks wrap them. ``codehotfix.api`` runs them (``api.run_task``); ``codehotfix.report`` shows them.
"""

from codehotfix.evaluation.tasks.base import FileTask, GenerationConfig, Task, TaskResult
from codehotfix.evaluation.tasks.execfix import ExecFixTask, ExecFixTaskConfig
from codehotfix.evaluation.tasks.humaneval import CacheKey, HumanEvalTask, HumanEvalTaskConfig
from codehotfix.evaluation.tasks.locality import LocalityTask, LocalityTaskConfig
from codehotfix.evaluation.tasks.perplexity import PerplexityTask, PerplexityTaskConfig
from codehotfix.evaluation.tasks.rates import RatesTask, RatesTaskConfig
from codehotfix.evaluation.tasks.variants import VariantsTask, VariantsTaskConfig
from codehotfix.registry import Registry

__all__ = ["TASKS", "REPORT_ORDER", "in_report_order", "Task", "FileTask", "TaskResult", "GenerationConfig",
           "CacheKey", "RatesTaskConfig", "HumanEvalTaskConfig", "LocalityTaskConfig", "PerplexityTaskConfig",
           "VariantsTaskConfig", "ExecFixTaskConfig"]

TASKS: Registry[Task] = Registry("evaluation task")
TASKS.register("rates")(RatesTask())
TASKS.register("humaneval")(HumanEvalTask())
TASKS.register("locality")(LocalityTask())
TASKS.register("perplexity")(PerplexityTask())
TASKS.register("variants")(VariantsTask())
TASKS.register("execfix")(ExecFixTask())

# The order of the report's sections: the hotfix's own cases first, then general ability, then side
# effects. (The registry lists names alphabetically.)
REPORT_ORDER = ("rates", "humaneval", "locality", "perplexity", "variants", "execfix")


def in_report_order() -> list[Task]:
    """Every task, in the report's order (tasks not in REPORT_ORDER last, by name)."""
    return [TASKS.get(n) for n in REPORT_ORDER] + [TASKS.get(n) for n in TASKS if n not in REPORT_ORDER]
