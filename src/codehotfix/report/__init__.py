"""Reports: a run folder's results → one self-contained HTML page, Markdown and JSON.

``collect`` finds and validates the inputs, ``analysis`` computes every number once (statistics
from ``codehotfix.evaluation.stats``), ``plots`` draws them, ``render`` writes HTML and Markdown
from the same sections. ``codehotfix report RUN_DIR`` calls ``build_report``.
"""

from codehotfix.extras import require_extra

require_extra("report", "codehotfix report")  # matplotlib and jinja2: one clear line if they are missing

from codehotfix.report.analysis import analyze  # noqa: E402
from codehotfix.report.build import ReportPaths, build_report  # noqa: E402
from codehotfix.report.collect import RunReport, collect  # noqa: E402

__all__ = ["analyze", "build_report", "collect", "ReportPaths", "RunReport"]
