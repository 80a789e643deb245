"""Reports: a run folder's results → one self-contained HTML page, Markdown and JSON.

``collect`` finds and validates the inputs, ``analysis`` computes every number once (statistics
from ``codehotfix.evaluation.stats``), ``plots`` draws them, ``render`` writes HTML and Markdown
from the same sections. ``codehotfix report RUN_DIR`` calls ``build_report``.
"""

from codehotfix.report.analysis import analyze
from codehotfix.report.build import ReportPaths, build_report
from codehotfix.report.collect import RunReport, collect

__all__ = ["analyze", "build_report", "collect", "ReportPaths", "RunReport"]
