"""Evaluation: batched line completion, the fixed/buggy/other rule, rates and margins.

The completion events (``events``: line, split, window), validity (``validity``) and the
before/after tables with intervals and paired tests (``compare``) are imported on their own.

The sandbox, statistics and HumanEval modules (``sandbox``, ``stats``, ``humaneval``) are imported
on their own: ``sandbox.py`` is the only place generated code runs.
"""

from codehotfix.evaluation.classify import classify, first_line
from codehotfix.evaluation.generation import Completions, generate_completions
from codehotfix.evaluation.rates import compare, evaluate_cases, line_logprobs, summarize

__all__ = ["classify", "first_line", "Completions", "generate_completions", "compare", "evaluate_cases",
           "line_logprobs", "summarize"]
