"""Loader for the single-line Java fixes with file context (``manysstubs4j_bugs_singleline.jsonl.gz``).

Records come from ManySStuBs4J's ``bugs`` set (Karampatsis & Sutton, MSR 2020); gzip or plain
JSONL. Each maps to:

    id       record ``id`` (``ManySStuBs4J-bugs/<n>``)
    prefix   ``context_before`` (up to 80 lines), given a final newline if it lacks one
    buggy    ``buggy_line``;  fixed: ``fixed_line``; both verbatim, so lines from CRLF files keep
             their trailing ``\\r`` like the context around them
    suffix   ``context_after``
    group    ``file_path`` (see below)
    language "java"
    source   file_path, buggy_line_no, bugs_json_index, context_before_truncated (if present), and
             ``project``: a project key guessed from the file path (``java_project``, see below)

Group choice: the source has no project names or commits (only ``bugs_json_index``, an index into
ManySStuBs4J's ``bugs.json``, which can be joined to get them), so the group is the file path: a
grouped split never puts two fixes to the same file on both sides, and "within" holds out other
fixes to files seen in training. It is not a cross-project split; for one, split
``by: source.project`` (a proxy, below) or join ``bugs.json`` by ``bugs_json_index`` and group by
``projectName`` (ground truth).

Project key (``source["project"]``, ``java_project``): a proxy for the project, read from the Java
package in the path, not ground truth. The package starts at the first reverse-domain component
(``com``, ``org``, ``io``, …) after the last ``src`` folder (anywhere in the path if there is
none), so ``core/src/main/java/org/apache/camel/Foo.java`` and ``src/test/org/x/…`` both find it.
The key is the package's first two components (``io/netty``, ``com/hazelcast``), three under
namespaces that hold several projects in this data (``org/apache/camel``, ``com/google/common``).
A package without a reverse-domain root (``src/main/java/alluxio/…``, ``src/jvm/clojure/…``) gives
its first folder after the source-set folders (``main``, ``test``, ``java``, ``jvm``, …); a path
with neither gives its first folder. ``_ALIASES`` then maps package renames and a project's odd
packages to one key (tachyon → alluxio, io/druid and com/metamx/druid → org/apache/druid,
eu/stratosphere → org/apache/flink, org/jboss/as → org/wildfly, …). The aliases come from this
data: sorted by ``bugs_json_index`` the keys form contiguous blocks, one per project as far as the
paths tell, and a renamed project shows as two packages interleaved in one block.

On the 8,839 fixes: 124 keys (ManySStuBs4J mined 100 projects); 48 keys hold 20 fixes or more, 39
hold one; the largest are org/apache/camel 1,147, com/puppycrawl (Checkstyle) 492, com/hazelcast
469, com/badlogic (libGDX) 454, alluxio 436. 8,040 fixes have a reverse-domain package, 760 a
package without one, 39 fall back to the first folder. 99.2% of the fixes carry the key that
dominates their ``bugs_json_index`` block; the other 72 are demos and vendored code inside a
project that get a key of their own or another project's (libGDX's game demos, ``org/onelab`` in
Hadoop, one ``io/netty`` file in async-http-client).
Limits: a vendored or generated package is keyed to the package, not the project holding it;
package names no project owns (``samples``, ``com/example``) join unrelated projects; a rename
missing from ``_ALIASES`` splits a project; an organisation's projects share one key unless its
namespace is in ``_UMBRELLAS`` (as org/apache and com/alibaba are). So a grouped split by this key
is mostly, not strictly, cross-project.

Usage: ``load_cases("manysstubs4j_bugs_singleline.jsonl.gz")``.
"""

from __future__ import annotations

from itertools import dropwhile
from pathlib import Path

from codehotfix.data.cases import HotfixCase, iter_jsonl
from codehotfix.data.loaders._records import CaseCollector, get_str, require_fields
from codehotfix.data.loaders.base import LOADERS

__all__ = ["load_manysstubs4j", "java_project"]

_REQUIRED = (
    "id", "context_before", "buggy_line", "fixed_line", "context_after",
    "file_path", "buggy_line_no", "bugs_json_index",
)
_SOURCE_KEYS = ("file_path", "buggy_line_no", "bugs_json_index", "context_before_truncated")

# First components of reverse-domain packages. Not "it": ``src/it/java`` is Maven's integration tests.
_DOMAINS = frozenset("com org net io edu gov eu de fr uk us fi nl ch at be cn jp in ru br me se no dk pl cz "
                     "info biz co".split())
# Folders between ``src`` and a package that has no reverse-domain root.
_SOURCE_SETS = frozenset("main test tests it java jvm functionaltest gen".split())
# Namespaces whose third component is the project (several projects share the first two here).
_UMBRELLAS = frozenset(("org/apache", "com/google", "com/alibaba", "org/jboss", "com/yammer", "com/squareup",
                        "com/googlecode", "com/github", "org/springframework"))
# Package prefix → the project key it belongs to: renames within a project, and a project's packages
# that the default rule would key elsewhere. The longest matching prefix wins.
_ALIASES = {
    "tachyon": "alluxio",
    "io/druid": "org/apache/druid", "com/metamx/druid": "org/apache/druid",
    "eu/stratosphere": "org/apache/flink",
    "org/apache/hadoop/hive": "org/apache/hive",
    "backtype/storm": "org/apache/storm", "storm": "org/apache/storm",
    "com/alibaba/dubbo": "org/apache/dubbo",
    "com/alibaba/json": "com/alibaba/fastjson",  # fastjson's tests
    "com/ning/http": "org/asynchttpclient",
    "org/activiti5": "org/activiti",
    "com/wordnik": "io/swagger",
    "org/graylog": "org/graylog2",
    "org/jboss/as": "org/wildfly",
    "org/jboss/netty": "io/netty",
    "com/yammer/dropwizard": "io/dropwizard", "com/yammer/metrics": "com/codahale",
    "com/google/checkstyle": "com/puppycrawl", "org/checkstyle": "com/puppycrawl", "checkstyle": "com/puppycrawl",
    "com/google/debugging": "com/google/javascript",  # Closure Compiler's source maps
    "com/nhn/pinpoint": "com/navercorp", "com/profiler": "com/navercorp",
    "com/haarman": "com/nhaarman",
    "org/scribe": "com/github/scribejava",
    "okhttp3": "com/squareup/okhttp",
    "org/opencloudb": "io/mycat",
    "org/springframework/bootstrap": "org/springframework/boot",
    "sample": "org/springframework/boot",  # spring-boot-samples (18 of the 20 fixes; 2 are Camel's)
    "app": "org/graylog2",  # graylog2-web-interface, the only Play app (app/controllers/…) here
    "android/support": "com/actionbarsherlock",  # vendored in ActionBarSherlock
    "com/taobao/tddl": "com/alibaba/otter",
    "junit": "org/junit",
    "org/mozilla": "com/google/javascript",  # Rhino, inside Closure Compiler
    "com/google/thirdparty": "com/google/common",
    "com/datastax": "com/facebook",  # Presto's Cassandra connector
    "com/squareup/javawriter": "dagger", "com/squareup/javapoet": "dagger",
    "org/foo": "org/apache/camel",  # Camel's component archetype
}


def _package(file_path: str) -> tuple[list[str], str]:
    """The path's package components and where they came from: "domain", "root" or "fallback"."""
    folders = file_path.replace("\\", "/").strip("/").split("/")
    folders, name = folders[:-1], folders[-1]
    src = [i for i, folder in enumerate(folders) if folder == "src"]
    below = folders[src[-1] + 1:] if src else folders
    for i, folder in enumerate(below):
        if folder in _DOMAINS and i + 1 < len(below):
            return below[i:], "domain"
    rest = list(dropwhile(lambda folder: folder in _SOURCE_SETS, below)) if src else []
    if rest:
        return rest, "root"
    return (folders or [name])[:1], "fallback"


def java_project(file_path: str) -> str:
    """A project key for a Java file from its path (see the module docstring: a proxy, not ground truth).

    >>> java_project("components/camel-csv/src/test/java/org/apache/camel/dataformat/csv/CsvTest.java")
    'org/apache/camel'
    >>> java_project("servers/src/main/java/tachyon/master/Master.java")
    'alluxio'
    """
    package, found = _package(file_path)
    for n in range(len(package), 0, -1):  # the longest aliased prefix
        alias = _ALIASES.get("/".join(package[:n]))
        if alias is not None:
            return alias
    if found != "domain":
        return package[0]
    return "/".join(package[:3 if "/".join(package[:2]) in _UMBRELLAS and len(package) >= 3 else 2])


@LOADERS.register("manysstubs4j")
def load_manysstubs4j(path: Path) -> list[HotfixCase]:
    """Loads the ManySStuBs4J single-line JSONL (``.gz`` allowed).

    Raises:
        DataError: naming file, line and field, for malformed JSON, a missing or mistyped field,
            identical buggy and fixed lines, a duplicate id or an empty file.
    """
    path = Path(path)
    collector = CaseCollector(path, "buggy_line", "fixed_line")
    for where, obj in iter_jsonl(path):
        record = require_fields(obj, _REQUIRED, where)
        prefix = get_str(record, "context_before", where)
        if prefix and not prefix.endswith("\n"):
            prefix += "\n"
        file_path = get_str(record, "file_path", where)
        case = HotfixCase(
            id=get_str(record, "id", where),
            prefix=prefix,
            buggy=get_str(record, "buggy_line", where).rstrip("\n"),
            fixed=get_str(record, "fixed_line", where).rstrip("\n"),
            suffix=get_str(record, "context_after", where),
            language="java",
            group=file_path,
            source={**{key: record[key] for key in _SOURCE_KEYS if key in record},
                    "project": java_project(file_path)},
        )
        collector.add(case, where)
    return collector.finish()
