"""The ManySStuBs4J loader's project key (``java_project``, ``source["project"]``): hand-written paths
for each branch of the rule, the key on loaded cases next to the unchanged file-path group, a grouped
split by it, and the counts its docstring quotes for the real file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from codehotfix.data.loaders import LOADERS
from codehotfix.data.loaders.manysstubs4j import java_project
from codehotfix.data.split import split_cases

REAL = Path("/work/shared/data/manysstubs4j_singleline_java/manysstubs4j_bugs_singleline.jsonl.gz")


@pytest.mark.parametrize("path, project", [
    # a reverse-domain package after the source root: its first two components
    ("core/src/main/java/org/x/A.java", "org/x"),
    ("hazelcast/src/test/java/com/hazelcast/map/MapTest.java", "com/hazelcast"),
    ("gdx/src/com/badlogic/gdx/utils/LongMap.java", "com/badlogic"),
    # three under a namespace that holds several projects
    ("components/camel-csv/src/test/java/org/apache/camel/dataformat/csv/CsvTest.java", "org/apache/camel"),
    ("hbase-common/src/main/java/org/apache/hadoop/hbase/io/TimeRange.java", "org/apache/hadoop"),
    ("guava/src/com/google/common/base/Strings.java", "com/google/common"),
    # src/it/java is integration tests, not Italy; the checkstyle aliases join one project
    ("src/it/java/com/google/checkstyle/test/SeparatorWrapTest.java", "com/puppycrawl"),
    ("src/main/java/com/puppycrawl/tools/checkstyle/Main.java", "com/puppycrawl"),
    # the longest aliased prefix wins: Hive's org.apache.hadoop.hive is Hive, not Hadoop
    ("ql/src/java/org/apache/hadoop/hive/ql/parse/PartitionPruner.java", "org/apache/hive"),
    # renames: the old package keys as the new one
    ("servers/src/main/java/tachyon/master/Master.java", "alluxio"),
    ("core/server/src/main/java/alluxio/master/block/BlockMaster.java", "alluxio"),
    ("server/src/main/java/io/druid/client/Client.java", "org/apache/druid"),
    ("storm-core/src/jvm/backtype/storm/utils/Utils.java", "org/apache/storm"),
    # a package without a reverse-domain root: its first folder after the source sets
    ("src/jvm/clojure/lang/RT.java", "clojure"),
    ("twitter4j-core/src/main/java/twitter4j/Status.java", "twitter4j"),
    # no src folder: the package is still found by its reverse-domain root
    ("guava-tests/test/com/google/common/collect/ListsTest.java", "com/google/common"),
    ("runtime-testsuite/test/org/antlr/v4/test/runtime/Tests.java", "org/antlr"),
    # neither: the first folder (or the file, at the top level)
    ("web/conf/Global.java", "web"),
    ("HelloServer.java", "HelloServer.java"),
    ("src/main/java/Default.java", "src"),
    # a domain folder with nothing below it is not a package
    ("src/main/java/org/Odd.java", "org"),
    ("core\\src\\main\\java\\io\\netty\\Channel.java", "io/netty"),
])
def test_java_project(path, project):
    assert java_project(path) == project


def _record(i: int, file_path: str) -> dict:
    return {"id": f"ManySStuBs4J-bugs/{i}", "bugs_json_index": i, "file_path": file_path, "buggy_line_no": 2,
            "context_before": "class A {\n", "buggy_line": f"  int x = {i};", "fixed_line": f"  int x = {i + 1};",
            "context_after": "}\n"}


def test_the_key_is_in_source_and_the_group_stays_the_file(tmp_path):
    paths = ["core/src/main/java/org/x/A.java", "core/src/main/java/org/x/B.java", "core/src/main/java/org/x/B.java",
             "servers/src/main/java/tachyon/T.java", "core/src/main/java/alluxio/U.java", "lib/src/com/y/C.java"]
    file = tmp_path / "manysstubs4j.jsonl"
    file.write_text("".join(json.dumps(_record(i, p)) + "\n" for i, p in enumerate(paths)))
    cases = LOADERS.get("manysstubs4j")(file)
    assert [c.group for c in cases] == paths
    assert [c.source["project"] for c in cases] == ["org/x", "org/x", "org/x", "alluxio", "alluxio", "com/y"]

    split = split_cases(cases, test_fraction=0.3, seed=0, by="source.project", mode="grouped")
    sides = [{c.source["project"] for c in side} for side in (split.train, split.test)]
    assert not sides[0] & sides[1] and sides[0] | sides[1] == {"org/x", "alluxio", "com/y"}


@pytest.mark.skipif(not REAL.exists(), reason="real data not mounted at /work/shared/data")
def test_real_file_keys_match_the_docstring():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = LOADERS.get("manysstubs4j")(REAL)
    sizes = Counter(c.source["project"] for c in cases)
    assert len(sizes) == 124
    assert sizes.most_common(5) == [("org/apache/camel", 1147), ("com/puppycrawl", 492), ("com/hazelcast", 469),
                                    ("com/badlogic", 454), ("alluxio", 436)]
    assert sum(n >= 20 for n in sizes.values()) == 48 and sum(n == 1 for n in sizes.values()) == 39
