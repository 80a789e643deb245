"""Studies: grids of PEFT methods × loss mixes × seeds on a dataset split, resumable, into one table.

    codehotfix study configs/study/pysstubs.yaml [--out DIR] [--limit-cells N] [key=value …]

``spec`` reads the YAML, ``data`` picks the cases, ``runner`` trains and evaluates every cell on one
base model, ``table`` pools the cells into ``results.json`` and ``results.md``; on the seen split
``breakdown`` adds every cell on each subset of the test items (variant kind, trained line or not).
"""

from codehotfix.study.breakdown import breakdown, breakdown_markdown
from codehotfix.study.data import StudyData, prepare_data, sample_cases, variant_items
from codehotfix.study.runner import default_out, remove_adapter, run_study, weights_signature
from codehotfix.study.spec import (
    BestSeedsSpec,
    Cell,
    DatasetSpec,
    LossSpec,
    MethodSpec,
    StudyConfig,
    cell_id,
    load_study,
    resolve_cells,
)
from codehotfix.study.table import METRICS, PAPER_REFERENCE, build_table, relative_change, table_markdown

__all__ = ["StudyConfig", "DatasetSpec", "MethodSpec", "LossSpec", "BestSeedsSpec", "Cell", "load_study",
           "resolve_cells", "cell_id", "StudyData", "prepare_data", "sample_cases", "variant_items", "run_study",
           "remove_adapter", "weights_signature", "default_out", "METRICS", "PAPER_REFERENCE", "build_table",
           "relative_change", "table_markdown", "breakdown", "breakdown_markdown"]
