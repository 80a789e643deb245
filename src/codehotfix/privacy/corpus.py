"""A deterministic synthetic corpus of small code projects that contain personal data.

    codehotfix pii corpus --out DIR [--seed 0] [--projects 8]

Every project is a small Python package with the files where personal data really turns up in
code: a package ``__init__`` with an author header, ``setup.py`` and ``pyproject.toml`` with author
emails, a Django-style ``settings.py`` with database/cache hosts and admin addresses, an API client
with a hard-coded key, and a logging config with a mail host and recipients. It also holds the
look-alikes a detector must leave alone (``__version__``, ``0.0.0.0`` binds, ``noreply@``,
``localhost``, docs at example.com).

Everything is SYNTHETIC and derived from the seed: names are random syllables, domains are random
words on common TLDs, IPs are random addresses, keys are random characters in the shape of real
providers' keys. No real person's data is used; a generated domain or address may coincide with a
real one by chance.

Writes ``DIR/files/<project>/…``, ``DIR/secrets.jsonl`` (one record per planted occurrence: id,
kind, value, path relative to ``DIR/files``, 1-based line and column, project) and
``DIR/corpus.json`` (seed, counts).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.files import atomic_write_text, write_json

__all__ = ["CorpusConfig", "Planted", "generate_corpus", "write_corpus", "read_secrets"]

_SYLLABLES = ("ka lo mir ta ven dro sil qua bre nik zol ra thi mo pel dan vor lys gre to fen "
              "ul wen sor bal cri han jor tes vik nor pa lin dur sel").split()
_TLDS = ("com", "io", "net", "org", "dev", "de", "nl", "co")
_WORDS = ("labs", "soft", "works", "data", "systems", "cloud", "tech", "group")


@dataclass
class CorpusConfig:
    """Size and seed of the corpus.

    Attributes:
        seed: everything is derived from it.
        projects: packages to generate (6 files each).
    """

    seed: int = 0
    projects: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.projects <= 200:
            raise ConfigError(f"corpus: projects must be in [1, 200], got {self.projects}")


@dataclass(frozen=True)
class Planted:
    """One planted occurrence of a secret (ground truth)."""

    id: str
    kind: str
    value: str
    path: str
    line: int
    column: int
    project: str


class _Gen:
    """Random synthetic values from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.used: set[str] = set()

    def word(self, lo: int = 2, hi: int = 3) -> str:
        while True:
            w = "".join(self.r.choice(_SYLLABLES) for _ in range(self.r.randint(lo, hi)))
            if w not in self.used:
                self.used.add(w)
                return w

    def person(self, domain: str) -> tuple[str, str]:
        first, last = self.word(2, 2).capitalize(), self.word(2, 3).capitalize()
        local = self.r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}"]).lower()
        return f"{first} {last}", f"{local}@{domain}"

    def public_ipv4(self) -> str:
        while True:
            a = self.r.randint(11, 223)
            if a not in (100, 127, 169, 172, 192, 198, 203):
                return f"{a}.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}"

    def private_ipv4(self) -> str:
        return f"10.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(2, 254)}"

    def ipv6(self) -> str:
        groups = [f"2a0{self.r.randint(1, 9)}"] + [f"{self.r.randint(0x100, 0xffff):x}" for _ in range(3)]
        return ":".join(groups) + f"::{self.r.randint(1, 0xfff):x}"

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def key(self) -> str:
        alnum = string.ascii_letters + string.digits
        return self.r.choice([
            lambda: "sk_live_" + self.chars(alnum, 24),
            lambda: "ghp_" + self.chars(alnum, 36),
            lambda: "AKIA" + self.chars(string.ascii_uppercase + string.digits, 16),
            lambda: self.chars("0123456789abcdef", 32),
            lambda: self.chars(alnum, 40),
        ])()


@dataclass(frozen=True)
class _Project:
    """One project's synthetic identity: the values its files are written from."""

    pkg: str
    domain: str
    author: str
    author_email: str
    maint: str
    maint_email: str
    db: str
    cache: str
    syslog: str
    public: str
    mailhost: str
    v6: str
    api_key: str
    secret_key: str
    version: str

    def planted(self) -> dict[str, str]:
        """{planted value: kind} (the ground truth the files carry)."""
        return {self.author_email: "email", self.maint_email: "email", self.db: "ipv4", self.cache: "ipv4",
                self.syslog: "ipv4", self.public: "ipv4", self.mailhost: "ipv4", self.v6: "ipv6",
                self.api_key: "key", self.secret_key: "key"}


def _draw_project(g: _Gen) -> _Project:
    """The values of one project, drawn from ``g`` in a fixed order (the corpus depends on it)."""
    pkg = g.word(2, 3)
    domain = f"{g.word(2, 2)}{g.r.choice(_WORDS)}.{g.r.choice(_TLDS)}"
    author, author_email = g.person(domain)
    maint, maint_email = g.person(domain)
    db, cache, syslog = g.private_ipv4(), g.private_ipv4(), g.private_ipv4()
    public, mailhost, v6 = g.public_ipv4(), g.public_ipv4(), g.ipv6()
    api_key, secret_key = g.key(), g.chars(string.ascii_letters + string.digits, 40)
    version = f"{g.r.randint(0, 3)}.{g.r.randint(0, 20)}.{g.r.randint(0, 9)}"
    return _Project(pkg, domain, author, author_email, maint, maint_email, db, cache, syslog, public, mailhost,
                    v6, api_key, secret_key, version)


def _init_py(p: _Project) -> str:
    """The package ``__init__``: author header and dunder metadata."""
    return f'''"""{p.pkg.capitalize()}: helpers for the {p.pkg} service.

Report bugs to the maintainers; see https://docs.example.com/{p.pkg} for the documentation.
"""

__author__ = "{p.author}"
__email__ = "{p.author_email}"
__version__ = "{p.version}"
__license__ = "MIT"

from {p.pkg}.client import Client

__all__ = ["Client"]
'''


def _setup_py(p: _Project) -> str:
    """``setup.py`` with author and maintainer emails."""
    return f'''from setuptools import find_packages, setup

setup(
    name="{p.pkg}",
    version="{p.version}",
    description="Client and tools for the {p.pkg} service",
    author="{p.author}",
    author_email="{p.author_email}",
    maintainer="{p.maint}",
    maintainer_email="{p.maint_email}",
    url="https://github.com/{p.domain.split('.')[0]}/{p.pkg}",
    packages=find_packages(),
    install_requires=["requests>=2.31"],
    python_requires=">=3.9",
)
'''


def _pyproject_toml(p: _Project) -> str:
    """``pyproject.toml`` with author and maintainer emails."""
    return f'''[project]
name = "{p.pkg}"
version = "{p.version}"
description = "Client and tools for the {p.pkg} service"
authors = [{{ name = "{p.author}", email = "{p.author_email}" }}]
maintainers = [{{ name = "{p.maint}", email = "{p.maint_email}" }}]
requires-python = ">=3.9"
dependencies = ["requests>=2.31"]

[project.urls]
Homepage = "https://{p.domain}/{p.pkg}"
'''


def _settings_py(p: _Project) -> str:
    """A Django-style ``settings.py``: secret key, hosts, database and cache addresses, admins."""
    return f'''"""Deployment settings for {p.pkg}."""

import os

DEBUG = False
SECRET_KEY = "{p.secret_key}"
ALLOWED_HOSTS = ["{p.domain}", "{p.public}", "localhost"]
BIND_ADDRESS = "0.0.0.0"

DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "{p.pkg}",
        "USER": "{p.pkg}_app",
        "PASSWORD": os.environ["DB_PASSWORD"],
        "HOST": "{p.db}",
        "PORT": 5432,
    }}
}}
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://{p.cache}:6379/1"}}}}

ADMINS = [("{p.author}", "{p.author_email}"), ("{p.maint}", "{p.maint_email}")]
DEFAULT_FROM_EMAIL = "noreply@{p.domain}"
'''


def _client_py(p: _Project) -> str:
    """An API client with a hard-coded key."""
    return f'''"""A small client for the {p.pkg} HTTP API."""

import requests

BASE_URL = "https://api.{p.domain}/v2"
API_KEY = "{p.api_key}"
TIMEOUT = 30


class Client:
    """Calls the {p.pkg} API with the service key."""

    def __init__(self, base_url=BASE_URL, api_key=API_KEY):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {{api_key}}"

    def get(self, path, **params):
        response = self.session.get(f"{{self.base_url}}/{{path}}", params=params, timeout=TIMEOUT)
        response.raise_for_status()
        return response.json()
'''


def _logging_py(p: _Project) -> str:
    """A logging config with syslog and mail hosts and a recipient."""
    return f'''"""Logging for {p.pkg}: console, syslog and mail on errors."""

LOGGING = {{
    "version": 1,
    "handlers": {{
        "console": {{"class": "logging.StreamHandler", "level": "INFO"}},
        "syslog": {{"class": "logging.handlers.SysLogHandler", "address": ("{p.syslog}", 514)}},
        "mail": {{
            "class": "logging.handlers.SMTPHandler",
            "mailhost": ("{p.mailhost}", 25),
            "fromaddr": "noreply@{p.domain}",
            "toaddrs": ["{p.maint_email}"],
            "subject": "{p.pkg} error",
        }},
    }},
    "root": {{"handlers": ["console", "syslog", "mail"], "level": "WARNING"}},
}}
METRICS_HOST = "{p.v6}"
'''


def _project(g: _Gen) -> tuple[str, dict[str, str], dict[str, str]]:
    """One project: (name, {relative path: text}, {planted value: kind})."""
    p = _draw_project(g)
    files = {f"{p.pkg}/__init__.py": _init_py(p), "setup.py": _setup_py(p), "pyproject.toml": _pyproject_toml(p),
             f"{p.pkg}/settings.py": _settings_py(p), f"{p.pkg}/client.py": _client_py(p),
             f"{p.pkg}/logging_config.py": _logging_py(p)}
    return p.pkg, {f"{p.pkg}/{path}": text for path, text in files.items()}, p.planted()  # project root: <pkg>/


def generate_corpus(cfg: CorpusConfig | None = None) -> tuple[dict[str, str], list[Planted]]:
    """Returns ({relative path: text}, planted occurrences), deterministic for ``cfg.seed``."""
    cfg = cfg or CorpusConfig()
    g = _Gen(cfg.seed)
    files: dict[str, str] = {}
    planted: list[Planted] = []
    for _ in range(cfg.projects):
        pkg, texts, values = _project(g)
        for path, text in texts.items():
            files[path] = text
            for lineno, line in enumerate(text.splitlines(), 1):
                for value, kind in values.items():
                    start = line.find(value)
                    while start >= 0:
                        planted.append(Planted(f"{path}:{lineno}:{start + 1}", kind, value, path, lineno,
                                               start + 1, pkg))
                        start = line.find(value, start + 1)
    planted.sort(key=lambda p: (p.path, p.line, p.column))
    return files, planted


def write_corpus(out: str | Path, cfg: CorpusConfig | None = None, *, force: bool = False) -> dict[str, Any]:
    """Writes the corpus under ``out`` and returns its manifest.

    Raises:
        CodehotfixError: ``out`` already holds files (pass ``force=True`` to write over a corpus).
    """
    cfg = cfg or CorpusConfig()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise CodehotfixError(f"{out}: folder is not empty; choose another or pass --force")
    files, planted = generate_corpus(cfg)
    for rel, text in files.items():
        atomic_write_text(out / "files" / rel, text)
    atomic_write_text(out / "secrets.jsonl", "".join(json.dumps(asdict(p)) + "\n" for p in planted))
    counts: dict[str, int] = {}
    for p in planted:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    manifest = {"format": "codehotfix-pii-corpus/1", "config": asdict(cfg), "files": len(files),
                "lines": sum(t.count("\n") for t in files.values()), "occurrences": len(planted),
                "distinct_values": len({p.value for p in planted}), "by_kind": dict(sorted(counts.items())),
                "files_dir": str(out / "files"), "secrets": str(out / "secrets.jsonl")}
    write_json(out / "corpus.json", manifest)
    return manifest


def read_secrets(path: str | Path) -> list[Planted]:
    """Reads a ground-truth JSONL (as written by ``write_corpus``).

    Raises:
        DataError: naming the file and line of a malformed record.
    """
    from codehotfix.data.cases import iter_jsonl
    from codehotfix.errors import DataError

    out = []
    names = [f for f in Planted.__dataclass_fields__]
    for where, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object")
        missing = [n for n in ("kind", "value", "path", "line", "column") if n not in obj]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
        if not isinstance(obj["value"], str) or not obj["value"]:
            raise DataError(f"{where}: field 'value' must be a non-empty string")
        rec = {n: obj.get(n, "") for n in names}
        rec["id"] = rec["id"] or f"{obj['path']}:{obj['line']}:{obj['column']}"
        out.append(Planted(**rec))
    if not out:
        raise DataError(f"{path}: contains no secrets")
    return out
