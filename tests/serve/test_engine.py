"""The engine's enable path with the canary's greedy check: a hotfix whose margins rise but whose
canary prefixes do not complete to the fixed lines is refused, and the report holds what the served
model would have written."""

import pytest

from codehotfix.deploy.canary import CanaryConfig, CanaryFailed
from codehotfix.deploy.store import HotfixStore
from codehotfix.evaluation.classify import first_line
from codehotfix.serve.engine import EngineConfig, HotfixEngine


def test_enable_refuses_a_hotfix_that_does_not_write_its_fixed_lines(tmp_path, tiny_loaded, trained_hotfixes):
    store = HotfixStore(tmp_path / "reg", create=True)
    entry = store.add(trained_hotfixes["a"], name="a")
    cases = entry.canaries()
    greedy = EngineConfig(max_new_tokens=32, canary=CanaryConfig(min_greedy_fixed=1.0))
    engine = HotfixEngine(tiny_loaded, store, greedy)
    engine.start()
    with pytest.raises(CanaryFailed, match="canary of a v1 greedy completion is the fixed line on 0%") as e:
        engine.enable("a")
    result = e.value.result
    assert result.fraction == 1.0 and result.greedy_fixed == 0.0  # the margins rose on every case
    assert engine.hotfix_versions == {} and store.enabled() == {}

    # Without the greedy check the margin canary lets it in; the served completions of the canary
    # prefixes then start with exactly what the refused canary recorded.
    engine.cfg.canary = CanaryConfig()
    assert engine.enable("a")["canary"]["a"]["greedy_fixed"] is None
    served = engine.generate([c.prefix for c in cases], max_tokens=32, temperature=0).texts
    for case, row, text in zip(cases, result.cases, served):
        assert row["id"] == case.id and row["greedy_label"] == "other"
        assert first_line(text).startswith(row["greedy"]) and row["greedy"]
