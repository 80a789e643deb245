"""One vocabulary of flags: walks every command and subcommand of the typer app (none listed by hand)
and checks each shared flag against its one definition in ``codehotfix.cli._options``; then checks
that each deprecated alias still works and warns."""

from __future__ import annotations

import pytest
import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app, main


def _walk(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, path + (name,))


COMMANDS = [(" ".join(path), cmd) for path, cmd in _walk(typer.main.get_command(app)) if path]
LEAVES = [(name, cmd) for name, cmd in COMMANDS if not getattr(cmd, "commands", None)]


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def _long(param):
    names = [o for o in param.opts if o.startswith("--")]
    return names[0] if names else param.opts[0]


def test_the_walk_finds_every_command():
    names = {name for name, _ in COMMANDS}
    assert {"train", "eval", "demo", "humaneval", "pii leak", "hotfix enable", "serve", "locality", "run"} <= names
    assert len(LEAVES) >= 20


@pytest.mark.parametrize("name,cmd", LEAVES, ids=[n for n, _ in LEAVES])
def test_shared_flags_have_one_name_short_name_help_and_default(name, cmd):
    for param in _options(cmd):
        if param.hidden:
            continue
        flag = opt.SHARED.get(_long(param))
        if flag is None:
            continue
        where = f"{name} {flag.name}"
        shorts = [o for o in param.opts if not o.startswith("--")]
        assert shorts == ([flag.short] if flag.short else []), f"{where}: short names {shorts}"
        if flag.name == "--out":
            assert param.help.startswith(flag.help) or param.help == opt.OUT_CASES_HELP, where
        else:
            assert param.help == flag.help, f"{where}: help {param.help!r}"
        if not param.required:
            expected = opt.DEFAULT_EXCEPTIONS.get((name, flag.name), (flag.default,))[0]
            assert param.default == expected, f"{where}: default {param.default!r}, want {expected!r}"
        if flag.name == "--registry":
            assert param.envvar == opt.REGISTRY_ENV, where


def test_a_short_name_means_one_flag_everywhere():
    seen: dict = {}
    for name, cmd in LEAVES:
        for param in _options(cmd):
            for short in (o for o in param.opts if not o.startswith("--")):
                if param.hidden:
                    continue
                seen.setdefault(short, {})[_long(param)] = name
    clashes = {s: longs for s, longs in seen.items() if len(longs) > 1}
    assert not clashes, clashes


def test_every_default_exception_is_used():
    for (name, flag), _ in opt.DEFAULT_EXCEPTIONS.items():
        cmd = dict(LEAVES)[name]
        assert any(_long(p) == flag for p in _options(cmd)), (name, flag)


@pytest.mark.parametrize("name,cmd", LEAVES, ids=[n for n, _ in LEAVES])
def test_a_command_that_loads_a_model_offers_device_and_threads(name, cmd):
    longs = {_long(p) for p in _options(cmd) if not p.hidden}
    if "--model" in longs:
        assert {"--device", "--threads"} <= longs, f"{name}: {sorted(longs)}"


@pytest.mark.parametrize("name", ["", *(n for n, _ in COMMANDS)])
def test_help_renders_booleans_as_flags(name, capsys):
    try:
        main([*name.split(), "--help"])
    except SystemExit as e:  # click may exit 0 after the help, or return
        assert e.code in (0, None)
    text = capsys.readouterr().out
    assert "<bool>" not in text and "BOOLEAN" not in text, text
    for param in _options(dict(COMMANDS)[name]) if name else []:
        if param.hidden:
            assert _long(param) not in text.split(), f"{name}: hidden alias {_long(param)} shown"


def test_hidden_options_are_deprecated_aliases_naming_their_replacement():
    for name, cmd in LEAVES:
        for param in _options(cmd):
            if param.hidden:
                assert param.help.startswith("Deprecated: use --"), (name, param.opts)


# The deprecated aliases: each still works for one release and warns, naming its replacement.

@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_humaneval_n_and_k_aliases_still_work_and_warn(capsys):
    # Without --allow-exec the config is checked before any model loads; its message shows both values.
    with pytest.raises(SystemExit) as e:
        main(["humaneval", "--json", "/tmp/never.json", "-n", "2", "--k", "3"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "-n is deprecated" in err and "use --samples/-k" in err
    assert "--k is deprecated" in err and "use --pass-k" in err
    assert "samples=2" in err and "got [3]" in err


def test_humaneval_alias_raises_a_deprecation_warning(capsys):
    with pytest.warns(DeprecationWarning, match="use --pass-k"), pytest.raises(SystemExit):
        main(["humaneval", "--json", "/tmp/never.json", "--k", "1"])


def _stop_serving(monkeypatch):
    seen = {}

    def fake_build_app(model, registry, **kwargs):
        from codehotfix.errors import CodehotfixError

        seen.update(registry=registry, **kwargs)
        raise CodehotfixError("stopped before loading")

    monkeypatch.setattr("codehotfix.serve.app.build_app", fake_build_app)
    return seen


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_serve_skip_canary_alias_still_works_and_warns(monkeypatch, capsys):
    pytest.importorskip("uvicorn")
    seen = _stop_serving(monkeypatch)
    with pytest.raises(SystemExit):
        main(["serve", "--skip-canary"])
    assert seen["cfg"].skip_canary is True
    assert "--skip-canary is deprecated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--no-canary"])
    assert seen["cfg"].skip_canary is True and "deprecated" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve"])
    assert seen["cfg"].skip_canary is False


def test_every_registry_flag_reads_the_environment(monkeypatch, tmp_path, capsys):
    pytest.importorskip("uvicorn")
    monkeypatch.setenv(opt.REGISTRY_ENV, str(tmp_path / "reg"))
    seen = _stop_serving(monkeypatch)
    with pytest.raises(SystemExit):
        main(["serve", "--device", "cpu"])
    assert seen["registry"] == str(tmp_path / "reg") and seen["device"] == "cpu"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["hotfix", "list"])
    assert str(tmp_path / "reg") in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pii_leak_says_that_samples_changed_meaning(capsys):
    with pytest.raises(SystemExit):
        main(["pii", "leak", "--json", "/tmp/never.json", "--samples", "5"])
    err = capsys.readouterr().err
    assert "--untargeted-samples" in err and "exactly one of --secrets" in err
    with pytest.raises(SystemExit):
        main(["pii", "leak", "--json", "/tmp/never.json", "--no-untargeted", "-k", "5"])
    assert "--untargeted-samples" not in capsys.readouterr().err

