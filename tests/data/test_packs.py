"""Tests for the built-in hotfix packs: the default pack loads and its cases are real, distinct code."""

from __future__ import annotations

import ast
from collections import defaultdict
from importlib import resources

import pytest

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.data.packs import load_pack, pack_names

MIN_TOPICS = 16
MIN_CASES_PER_TOPIC = 8
KINDS = {"outdated_api", "unsafe", "bug"}

# What the fixed line uses that the prefix must not already show (compared with whitespace removed):
# a prefix that already uses the fixed API would let the model copy it instead of knowing it.
FIXED_API = {
    "yaml_safe_load": ["safe_load", "Loader="],
    "datetime_utcnow": ["timezone.utc", ".now("],
    "logger_warning": [".warning("],
    "collections_abc": ["collections.abc"],
    "pandas_concat": ["concat("],
    "inspect_getfullargspec": ["getfullargspec", "signature("],
    "assert_equal": ["assertEqual("],
    "numpy_builtin_types": ["dtype=float", "dtype=int", "dtype=bool", "dtype=object", "astype(float", "astype(int"],
    "time_perf_counter": ["perf_counter"],
    "base64_encodebytes": ["encodebytes", "decodebytes"],
    "thread_is_alive": ["is_alive"],
    "sys_maxsize": ["maxsize"],
    "pil_lanczos": ["LANCZOS", "Resampling"],
    "torch_load_weights_only": ["weights_only"],
    "tempfile_mkstemp": ["mkstemp", "NamedTemporaryFile"],
    "subprocess_no_shell": ["subprocess."],
    "requests_timeout": ["timeout="],
    "secrets_token": ["secrets."],
    "password_pbkdf2": ["pbkdf2", "scrypt", "bcrypt"],
    "is_none": ["isNone", "isnotNone"],
    "mutable_default": ["=None"],
    "range_off_by_one": ["range(len("],
}


@pytest.fixture(scope="module")
def cases() -> list[HotfixCase]:
    return load_pack("default")


def _by_topic(cases: list[HotfixCase]) -> dict[str, list[HotfixCase]]:
    topics: dict[str, list[HotfixCase]] = defaultdict(list)
    for case in cases:
        topics[case.group].append(case)
    return topics


def test_pack_names_lists_every_packaged_file():
    assert "default" in pack_names()
    files = sorted(p.name[: -len(".jsonl")] for p in resources.files("codehotfix.data.packs").iterdir()
                   if p.name.endswith(".jsonl"))
    assert files == pack_names()


def test_unknown_pack_is_a_key_error_listing_valid_names():
    with pytest.raises(KeyError) as info:
        load_pack("nope")
    message = str(info.value)
    assert "'nope'" in message
    for name in pack_names():
        assert name in message


def test_default_pack_loads(cases):
    assert cases and all(isinstance(c, HotfixCase) for c in cases)
    assert load_pack() == cases


def test_ids_are_unique(cases):
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))


def test_enough_topics_with_enough_cases(cases):
    topics = _by_topic(cases)
    assert len(topics) >= MIN_TOPICS, sorted(topics)
    small = {t: len(cs) for t, cs in topics.items() if len(cs) < MIN_CASES_PER_TOPIC}
    assert not small, f"topics with fewer than {MIN_CASES_PER_TOPIC} cases: {small}"


def test_metadata_is_consistent(cases):
    bad = []
    topics = _by_topic(cases)
    for topic, topic_cases in topics.items():
        expected_ids = {f"{topic}/{n}" for n in range(len(topic_cases))}
        if {c.id for c in topic_cases} != expected_ids:
            bad.append(f"{topic}: ids are not {topic}/0..{len(topic_cases) - 1}")
        for c in topic_cases:
            if c.language != "python" or c.source.get("topic") != topic:
                bad.append(f"{c.id}: language {c.language!r}, source topic {c.source.get('topic')!r}")
            if c.source.get("kind") not in KINDS or not c.source.get("why"):
                bad.append(f"{c.id}: kind {c.source.get('kind')!r} not in {sorted(KINDS)} or no 'why'")
    assert not bad, "\n".join(bad)


def test_both_variants_are_python_that_parses(cases):
    bad = []
    for c in cases:
        for name, line in (("fixed", c.fixed), ("buggy", c.buggy)):
            try:
                ast.parse(c.prefix + line + "\n" + c.suffix)
            except SyntaxError as e:
                bad.append(f"{c.id} ({name}): {e.msg} at line {e.lineno}")
    assert not bad, "\n".join(bad)


def test_lines_fit_their_context(cases):
    bad = []
    for c in cases:
        if not c.prefix.endswith("\n"):
            bad.append(f"{c.id}: prefix does not end with a newline")
        indent = lambda s: len(s) - len(s.lstrip())  # noqa: E731
        if indent(c.buggy) != indent(c.fixed):
            bad.append(f"{c.id}: buggy and fixed lines are indented differently")
    assert not bad, "\n".join(bad)


def test_prefix_does_not_give_the_line_away(cases):
    bad = []
    for c in cases:
        prefix = normalize_line(c.prefix)
        for name, line in (("fixed", c.fixed), ("buggy", c.buggy)):
            if normalize_line(line) in prefix:
                bad.append(f"{c.id}: prefix already contains the {name} line")
    assert not bad, "\n".join(bad)


def test_prefix_does_not_already_use_the_fixed_api(cases):
    topics = _by_topic(cases)
    missing = sorted(set(topics) - set(FIXED_API))
    assert not missing, f"add the fixed-API markers of {missing} to FIXED_API"
    bad = []
    for topic, topic_cases in topics.items():
        for c in topic_cases:
            prefix = normalize_line(c.prefix)
            bad += [f"{c.id}: prefix uses {m!r}" for m in FIXED_API[topic] if m in prefix]
    assert not bad, "\n".join(bad)


def test_contexts_are_distinct(cases):
    bad = []
    for topic, topic_cases in _by_topic(cases).items():
        prefixes = [c.prefix for c in topic_cases]
        if len(set(prefixes)) != len(prefixes):
            bad.append(f"{topic}: two cases share a prefix")
        # Distinct contexts, not one snippet with renamed variables: the code around the line differs.
        last_lines = [c.prefix.rstrip("\n").splitlines()[-1] for c in topic_cases]
        if len(set(last_lines)) < len(last_lines) // 2:
            bad.append(f"{topic}: most cases end their prefix on the same line")
    assert not bad, "\n".join(bad)
