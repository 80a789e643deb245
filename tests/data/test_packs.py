"""Tests for the built-in hotfix packs: the default pack loads, its cases are real, distinct code and
in sync with their sources, and the demo's topic selection sees training contexts only."""

from __future__ import annotations

import ast
import zlib
from collections import defaultdict
from importlib import resources

import pytest

from codehotfix.data.cases import HotfixCase, normalize_line
from codehotfix.data.packs import TopicSelectionConfig, load_pack, pack_names, select_topics, split_pack
from codehotfix.data.packs.build_pack import build_pack

MIN_TOPICS = 40
MIN_CASES_PER_TOPIC = 10
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
    "requests_verify": ["verify=True"],
    "ssl_wrap_socket": ["create_default_context", "server_hostname="],
    "pickle_untrusted": ["json.loads", "json.load("],
    "eval_literal": ["literal_eval"],
    "assert_validation": ["raiseValueError(", "raisePermissionError(", "raiseTypeError("],
    "bare_except": ["exceptException"],
    "is_literal": [],
    "asyncio_run": ["asyncio.run("],
    "pandas_iteritems": [".items()"],
    "pandas_chained_assignment": [".loc["],
    "numpy_asscalar": [".item()"],
    "datetime_utcfromtimestamp": ["tz=timezone.utc", ".fromtimestamp("],
    "thread_set_daemon": [".daemon=", "daemon=True"],
    "imp_reload": ["importlib.reload"],
    "cgi_escape": ["html.escape"],
    "sql_injection": [],
    "hmac_compare_digest": ["compare_digest"],
    "int_division": [],
    "late_binding_lambda": [],
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


def test_pack_file_is_built_from_its_sources():
    packaged = resources.files("codehotfix.data.packs").joinpath("default.jsonl").read_text(encoding="utf-8")
    assert build_pack("default") == packaged, "run: python -m codehotfix.data.packs.build_pack"


def test_buggy_and_fixed_lines_differ(cases):
    same = [c.id for c in cases if normalize_line(c.buggy) == normalize_line(c.fixed)]
    assert not same


# ---------------------------------------------------------------- split first, then select targets


def _fake_results(train, wrong_topics=None, **record):
    """Base results on training contexts: topics in ``wrong_topics`` (all if None) prefer the buggy line."""
    out = {}
    for c in train:
        wrong = wrong_topics is None or c.group in wrong_topics
        out[c.id] = {"margin": -1.5 if wrong else 2.0, **record}
    return out


def test_split_holds_out_four_of_ten_per_topic_and_is_seeded(cases):
    split = split_pack(cases, test_fraction=0.4, seed=0)
    assert not {c.id for c in split.train} & {c.id for c in split.test}
    assert len(split.train) + len(split.test) == len(cases)
    for topic, topic_cases in _by_topic(cases).items():
        n_test = sum(c.group == topic for c in split.test)
        assert n_test == round(0.4 * len(topic_cases)) and n_test >= 4, topic
    again = split_pack(list(reversed(cases)), test_fraction=0.4, seed=0)
    assert [c.id for c in again.test] == [c.id for c in split.test]
    assert [c.id for c in split_pack(cases, test_fraction=0.4, seed=1).test] != [c.id for c in split.test]


def test_a_topics_split_does_not_depend_on_the_other_topics(cases):
    topic = cases[0].group
    alone = split_pack([c for c in cases if c.group == topic], test_fraction=0.4, seed=3)
    full = split_pack(cases, test_fraction=0.4, seed=3)
    assert [c.id for c in alone.test] == [c.id for c in full.test if c.group == topic]


def test_selection_works_from_training_results_only(cases):
    split = split_pack(cases, test_fraction=0.4, seed=0)
    selection = select_topics(split.train, _fake_results(split.train))
    assert set(selection["inputs"]) == {c.id for c in split.train}
    # every topic the fake base gets wrong is a target, each with >= 4 held-out contexts
    assert len(selection["targets"]) >= 25
    held_out = _by_topic([c for c in split.test if c.group in selection["targets"]])
    assert len(held_out) == len(selection["targets"]) and all(len(v) >= 4 for v in held_out.values())


def test_selection_refuses_held_out_results(cases):
    split = split_pack(cases, test_fraction=0.4, seed=0)
    results = _fake_results(split.train)
    results[split.test[0].id] = {"margin": -3.0}
    with pytest.raises(ValueError, match="outside the training split"):
        select_topics(split.train, results)
    partial = _fake_results(split.train[1:])
    with pytest.raises(ValueError, match="no base result"):
        select_topics(split.train, partial)


def test_selection_ignores_what_held_out_contexts_would_say(cases):
    """Held-out results cannot enter, so the targets follow the training contexts alone."""
    split = split_pack(cases, test_fraction=0.4, seed=0)
    topics = sorted({c.group for c in cases})
    wrong = set(topics[::3])
    selection = select_topics(split.train, _fake_results(split.train, wrong))
    assert selection["targets"] == sorted(wrong)
    info = selection["topics"][topics[0]]
    assert info["target"] and info["wrong"] == info["train_cases"] == 6
    assert info["reasons"] == {"prefers_buggy": 6} and info["margin_mean"] == -1.5


def test_selection_rule_signals_and_threshold(cases):
    split = split_pack(cases, test_fraction=0.4, seed=0)
    topics = sorted({c.group for c in cases})
    results = _fake_results(split.train, wrong_topics=set())       # margins all +2.0: nothing wrong
    assert select_topics(split.train, results)["targets"] == []
    first = next(c for c in split.train if c.group == topics[0])
    second = next(c for c in split.train if c.group == topics[1])
    results[first.id] = {"margin": 2.0, "greedy_label": "buggy", "buggy_rate": 0.0}
    results[second.id] = {"margin": 2.0, "greedy_label": "other", "buggy_rate": 0.1}
    selection = select_topics(split.train, results)
    assert selection["targets"] == sorted(topics[:2])
    assert selection["inputs"][first.id]["wrong"] == ["greedy_buggy"]
    assert selection["inputs"][second.id]["wrong"] == ["samples_buggy"]
    # a stricter rule: two wrong contexts needed; a looser one: margins under 3 nats count
    assert select_topics(split.train, results, TopicSelectionConfig(min_wrong=2))["targets"] == []
    assert len(select_topics(split.train, results, TopicSelectionConfig(margin_below=3.0))["targets"]) == len(topics)
    with pytest.raises(ValueError, match="min_wrong"):
        TopicSelectionConfig(min_wrong=0)


def test_selection_is_deterministic_under_the_seed(cases):
    def run(seed):
        split = split_pack(cases, test_fraction=0.4, seed=seed)
        results = {c.id: {"margin": (zlib.crc32(c.id.encode()) % 7) - 3.0} for c in split.train}
        return split, select_topics(split.train, results)

    (s1, a), (s2, b) = run(5), run(5)
    assert [c.id for c in s1.test] == [c.id for c in s2.test] and a == b
