"""Privacy hotfixes: find PII in code, turn it into hotfix cases, and measure leakage.

- ``detect``   detectors (email, ipv4, ipv6, key) and their false-positive filters
- ``scan``     files, folders and JSONL data sets → findings
- ``cases``    findings → hotfix cases whose fixed line holds a placeholder
- ``leak``     targeted and untargeted leakage of a model (before/after a hotfix)
- ``corpus``   a deterministic synthetic corpus with planted PII (ground truth included)
- ``memorise`` make a model memorise a corpus (stands in for pre-training in experiments)
"""

from codehotfix.privacy.cases import PLACEHOLDERS, CaseBuildConfig, build_cases, cases_for_text, redact_line
from codehotfix.privacy.corpus import CorpusConfig, Planted, generate_corpus, read_secrets, write_corpus
from codehotfix.privacy.detect import DETECTORS, KINDS, DetectConfig, Finding, scan_line, scan_text
from codehotfix.privacy.leak import LeakRun, Target, TargetedConfig, UntargetedConfig, compare_leak, load_targets
from codehotfix.privacy.memorise import MemoriseConfig, corpus_loss, memorise, save_model
from codehotfix.privacy.scan import ScanResult, scan_paths

__all__ = ["PLACEHOLDERS", "CaseBuildConfig", "build_cases", "cases_for_text", "redact_line", "CorpusConfig",
           "Planted", "generate_corpus", "read_secrets", "write_corpus", "DETECTORS", "KINDS", "DetectConfig",
           "Finding", "scan_line", "scan_text", "ScanResult", "scan_paths", "LeakRun", "Target", "TargetedConfig",
           "UntargetedConfig", "compare_leak", "load_targets", "MemoriseConfig", "corpus_loss", "memorise",
           "save_model"]
