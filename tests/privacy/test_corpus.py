"""The synthetic corpus: deterministic, ground truth matches the files, the detector finds it all."""

import json

import pytest

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.privacy.corpus import CorpusConfig, generate_corpus, read_secrets, write_corpus
from codehotfix.privacy.scan import scan_paths


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b, c = generate_corpus(CorpusConfig(seed=1, projects=2)), generate_corpus(CorpusConfig(seed=1, projects=2)), \
        generate_corpus(CorpusConfig(seed=2, projects=2))
    assert a == b and a[0] != c[0]
    files, planted = a
    assert len(files) == 12 and {p.kind for p in planted} == {"email", "ipv4", "ipv6", "key"}
    for p in planted:
        assert files[p.path].splitlines()[p.line - 1][p.column - 1:].startswith(p.value)


def test_written_corpus_is_found_exactly_by_the_scanner(tmp_path):
    manifest = write_corpus(tmp_path / "c", CorpusConfig(seed=3, projects=3))
    truth = {(p.path, p.line, p.column, p.value) for p in read_secrets(tmp_path / "c" / "secrets.jsonl")}
    root = tmp_path / "c" / "files"
    found = {(str(f.path)[len(str(root)) + 1:], f.line, f.column, f.value)
             for f in scan_paths([root], progress=False).findings}
    assert found == truth and manifest["occurrences"] == len(truth)
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["config"] == {"seed": 3, "projects": 3}
    with pytest.raises(CodehotfixError, match="not empty"):
        write_corpus(tmp_path / "c", CorpusConfig(seed=3, projects=3))
    with pytest.raises(ConfigError, match="projects"):
        CorpusConfig(projects=0)
