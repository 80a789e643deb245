"""HumanEval with a fake generator: exact pass@k, truncation, --exclude, and the generation cache."""

from __future__ import annotations

import pytest

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.evaluation.humaneval import (
    STOP_SEQUENCES, HumanEvalConfig, check_program, load_problems, run_humaneval, truncate,
)
from codehotfix.evaluation.sandbox import run_program

PROBLEMS = load_problems()
GARBAGE = "    raise NotImplementedError('garbage')\n"


class FakeGenerator:
    """Returns the canonical solution for the chosen tasks and garbage for the rest; counts calls."""

    def __init__(self, good: set[str], per_sample: list[bool] | None = None, tail: str = "") -> None:
        self.by_prompt = {p["prompt"]: p for p in PROBLEMS.values()}
        self.good, self.per_sample, self.tail = good, per_sample, tail
        self.calls: list[list[str]] = []

    def __call__(self, prompts, *, n, temperature, max_new_tokens, stop, seed):
        assert list(stop) == list(STOP_SEQUENCES)
        self.calls.append(list(prompts))
        out = []
        for prompt in prompts:
            problem = self.by_prompt[prompt]
            good = [problem["task_id"] in self.good] * n if self.per_sample is None else self.per_sample
            out.append([(problem["canonical_solution"] if g else GARBAGE) + self.tail for g in good])
        return out


def _cfg(tmp_path, **kw) -> HumanEvalConfig:
    return HumanEvalConfig(**{"limit": 5, "allow_exec": True, "cache_dir": str(tmp_path / "cache"),
                              "timeout_s": 10, "memory_mb": 512, "workers": 2, **kw})


def test_problems_load_from_the_package():
    assert len(PROBLEMS) == 164
    assert list(PROBLEMS)[:2] == ["HumanEval/0", "HumanEval/1"]


def test_truncate_at_stop_sequences():
    body = "    return x\n"
    assert truncate(body + "\n\ndef other():\n    pass\n") == body + "\n"
    assert truncate(body + "\nif __name__ == '__main__':\n    main()\n") == body
    assert truncate(body + "\nprint(f(1))\n") == body
    assert truncate(body + "\n# tests\n") == body
    assert truncate(body + "\nclass A:\n    pass\n") == body
    assert truncate(body) == body
    assert truncate("    # a comment inside the body\n" + body) == "    # a comment inside the body\n" + body


def test_canonical_solution_passes_and_garbage_fails_in_the_sandbox():
    problem = PROBLEMS["HumanEval/0"]
    assert run_program(check_program(problem, problem["canonical_solution"]), timeout_s=10).passed
    assert not run_program(check_program(problem, GARBAGE), timeout_s=10).passed


def test_pass_at_1_exact_with_fake_generator(tmp_path):
    gen = FakeGenerator(good={"HumanEval/0", "HumanEval/2", "HumanEval/4"})
    res = run_humaneval(gen, _cfg(tmp_path), model_checksum="m", adapter_checksum=None)
    assert [t.task_id for t in res.tasks] == [f"HumanEval/{i}" for i in range(5)]
    assert [t.correct for t in res.tasks] == [1, 0, 1, 0, 1]
    assert res.pass_at_k == {"pass@1": pytest.approx(3 / 5)}
    assert res.pass_at_1_ci is not None and res.pass_at_1_ci[0] < 0.6 < res.pass_at_1_ci[1]
    assert "NotImplementedError" in res.tasks[1].messages[0]
    assert res.to_dict()["tasks"][0]["correct"] == 1


def test_pass_at_k_with_samples(tmp_path):
    gen = FakeGenerator(good=set(), per_sample=[True, False, False])
    res = run_humaneval(gen, _cfg(tmp_path, limit=2, samples=3, temperature=0.8, k=(1, 2, 3)),
                        model_checksum="m")
    assert [t.correct for t in res.tasks] == [1, 1]
    assert res.pass_at_k["pass@1"] == pytest.approx(1 / 3)
    assert res.pass_at_k["pass@2"] == pytest.approx(2 / 3)  # 1 - C(2,2)/C(3,2)
    assert res.pass_at_k["pass@3"] == pytest.approx(1.0)


def test_completions_are_truncated_before_running(tmp_path):
    gen = FakeGenerator(good={"HumanEval/0"}, tail="\nif __name__ == '__main__':\n    raise SystemExit(1)\n")
    res = run_humaneval(gen, _cfg(tmp_path, limit=1), model_checksum="m")
    assert res.pass_at_k["pass@1"] == 1.0
    assert "__main__" not in res.tasks[0].completions[0]


def test_rerun_uses_the_cache(tmp_path):
    cfg = _cfg(tmp_path)
    first = run_humaneval(FakeGenerator(good={"HumanEval/1"}), cfg, model_checksum="m", adapter_checksum="a")
    assert (first.generated_prompts, first.cached_prompts) == (5, 0)

    def must_not_generate(*args, **kwargs):
        raise AssertionError("the generator was called although everything is cached")

    second = run_humaneval(must_not_generate, cfg, model_checksum="m", adapter_checksum="a")
    assert (second.generated_prompts, second.cached_prompts) == (0, 5)
    assert second.pass_at_k == first.pass_at_k == {"pass@1": pytest.approx(1 / 5)}

    # A different adapter, model or decoding setting is a different key: generated again.
    other_seed = _cfg(tmp_path, seed=1)
    for kwargs, cfg2 in (({"adapter_checksum": "b"}, cfg), ({"adapter_checksum": "a"}, other_seed)):
        gen = FakeGenerator(good=set())
        run_humaneval(gen, cfg2, model_checksum="m", **kwargs)
        assert sum(len(c) for c in gen.calls) == 5


def test_interrupted_run_resumes_from_the_cache(tmp_path):
    cfg = _cfg(tmp_path, batch_size=2)

    class Interrupted(FakeGenerator):
        def __call__(self, prompts, **kw):
            if self.calls:
                raise KeyboardInterrupt
            return super().__call__(prompts, **kw)

    with pytest.raises(KeyboardInterrupt):
        run_humaneval(Interrupted(good=set()), cfg, model_checksum="m")
    gen = FakeGenerator(good=set())
    res = run_humaneval(gen, cfg, model_checksum="m")
    assert sum(len(c) for c in gen.calls) == 3  # the first batch of 2 came from the cache
    assert (res.generated_prompts, res.cached_prompts) == (3, 2)


def test_exclude_task_ids(tmp_path):
    gen = FakeGenerator(good=set())
    cfg = _cfg(tmp_path, limit=3, exclude=("HumanEval/0", "HumanEval/2"))
    res = run_humaneval(gen, cfg, model_checksum="m")
    assert [t.task_id for t in res.tasks] == ["HumanEval/1", "HumanEval/3", "HumanEval/4"]
    with pytest.raises(ConfigError, match="HumanEval/999"):
        run_humaneval(gen, _cfg(tmp_path, exclude=("HumanEval/999",)), model_checksum="m")


def test_config_validation():
    with pytest.raises(ConfigError, match="allow_exec"):
        HumanEvalConfig()
    with pytest.raises(ConfigError) as e:
        HumanEvalConfig(allow_exec=True, samples=2, k=(1, 5), limit=0)
    assert "k:" in str(e.value) and "limit:" in str(e.value)
    with pytest.warns(UserWarning, match="identical"):
        HumanEvalConfig(allow_exec=True, samples=2, k=(1,), temperature=0.0)


def test_generator_returning_wrong_counts_is_an_error(tmp_path):
    with pytest.raises(CodehotfixError, match="expected 1 per prompt"):
        run_humaneval(lambda prompts, **kw: [[] for _ in prompts], _cfg(tmp_path, use_cache=False),
                      model_checksum="m")
