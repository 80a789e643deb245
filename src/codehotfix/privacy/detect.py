"""Find personal data and secrets in code: emails, IPv4/IPv6 addresses and keys/tokens.

Each kind is a detector registered in ``DETECTORS`` that maps one line to ``(start, value, detector)``
hits. Keys and tokens come from detect-secrets' own plugins (AWS, GitHub, Slack, Stripe, JWT, …,
its keyword plugin and its Base64/hex entropy plugins, run line by line through their public
``analyze_line``/``denylist``, followed by detect-secrets' heuristic filters) plus a few known key
prefixes it lacks. Emails and IP addresses use regular expressions validated by ``ipaddress``.

Code is full of things that look like PII and are not; every filter below exists because of one
(see ``bench/privacy/labelled.jsonl`` for the labelled look-alikes):

- email: any top-level domain of 2–63 letters (Unicode letters too: IDNs such as ``bücher.com``;
  long gTLDs such as ``.technology``; ``.pl``/``.py``/``.sh`` are real country domains) unless the
  match is evidently a file or code reference: a file extension that is no top-level domain
  (``icon@2x.png``, ``main@v2.json``), a HiDPI/size/version name (``logo@2x.…``, ``icon@64x64.…``),
  a path (``static/img/logo@2x.pl``), code (``x@self.weight``, ``self@property.py``, ``q@k.transpose(``,
  ``a@b.shape``), or the login of a URL (``https://deploy:pw@host/…``). Also dropped: RFC 2606/6761
  and never-delegated domains (example.com/.org/.net, *.example, *.test, *.invalid, *.localhost,
  *.localdomain, *.lan, *.corp, *.tld …), noreply/postmaster addresses, placeholder local parts (``user@…``, ``you@…``) and git/ssh
  remotes (``git@github.com:org/repo``: a login on a host, not a mailbox; decided in #13).
  ``user@host`` without a dot never matches.
- ipv4/ipv6: version contexts (``__version__ = "1.2.3.4"``, ``pkg==1.0.0.1``), loopback,
  unspecified (0.0.0.0, ::), documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
  2001:db8::/32), link-local, multicast, reserved, netmasks, CIDR network prefixes.
  Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) identify an organisation's
  hosts and are reported by default; ``DetectConfig(include_private=False)`` drops them.
- key: detect-secrets' filters (UUIDs, sequential strings, templated ``<KEY>``/``${KEY}``, indirect
  references, ids), hashes in checksum/lockfile contexts, placeholders (``xxxx``, ``changeme``,
  ``your-api-key``), lowercase file paths and backslash paths (Windows registry keys such as
  ``HKEY_LOCAL_MACHINE\\SOFTWARE\\…``, drive, UNC, ``%VAR%\\`` and relative paths).

Usage::

    findings = scan_text(open("settings.py").read(), path="settings.py")
    [f.to_dict() for f in findings]   # kind, value, path, line, column, detector
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, NamedTuple

from codehotfix.errors import ConfigError
from codehotfix.extras import require_extra
from codehotfix.registry import Registry

__all__ = ["Finding", "DetectConfig", "DETECTORS", "KINDS", "scan_line", "scan_text"]

KINDS = ("email", "ipv4", "ipv6", "key")


@dataclass(frozen=True)
class Finding:
    """One occurrence of PII or a secret.

    Attributes:
        kind: "email", "ipv4", "ipv6" or "key".
        value: the text found, verbatim.
        path: the file it was found in (or a label such as "<sample 12>").
        line: 1-based line number (for JSONL input: the record's line in the file).
        column: 1-based column of the value's first character (within ``field`` for JSONL).
        detector: what found it ("regex:email", "detect-secrets:AWS Access Key", "prefix:google").
        field: for JSONL input, the record field holding the text; None for plain files.
        field_line: for JSONL input, the 1-based line within that field's text.
    """

    kind: str
    value: str
    path: str
    line: int
    column: int
    detector: str = ""
    field: str | None = None
    field_line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def location(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}[{self.field}:{self.field_line}]:{self.column}" if self.field else f"{where}:{self.column}"


@dataclass
class DetectConfig:
    """Which kinds to look for and how strict to be.

    Attributes:
        kinds: the detectors to run (names in ``DETECTORS``).
        include_private: report private/ULA/CGNAT addresses (an organisation's internal hosts);
            False keeps only globally routable ones.
        base64_limit: detect-secrets' Shannon-entropy threshold for quoted base64 strings (its default 4.5).
        hex_limit: the same for quoted hex strings (its default 3.0).
        min_key_length: keys shorter than this are ignored (keyword hits such as ``password = "abc"``).
    """

    kinds: tuple[str, ...] = KINDS
    include_private: bool = True
    base64_limit: float = 4.5
    hex_limit: float = 3.0
    min_key_length: int = 16

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        errors = [f"kinds: unknown kind {k!r}; valid: {', '.join(DETECTORS.names())}"
                  for k in self.kinds if k not in DETECTORS]
        if not self.kinds:
            errors.append("kinds: at least one kind is needed")
        for name in ("base64_limit", "hex_limit"):
            if not 0 <= getattr(self, name) <= 8:
                errors.append(f"{name}: must be in [0, 8] (bits per character), got {getattr(self, name)}")
        if self.min_key_length < 1:
            errors.append(f"min_key_length: must be >= 1, got {self.min_key_length}")
        if errors:
            raise ConfigError("invalid PII detection config: " + "; ".join(errors))


class Hit(NamedTuple):
    start: int  # 0-based offset in the line
    value: str
    detector: str


Detector = Callable[[str, DetectConfig, str], Iterator[Hit]]
DETECTORS: Registry[Detector] = Registry("PII detector")

# ---------------------------------------------------------------------------------------- email

# Letters and digits in any script ([^\W_]): local parts and domains may be internationalised
# (RFC 6531, IDNA). A top-level domain is 2–63 letters or an IDNA "xn--" label (RFC 1034/5890); which
# ones exist changes every year (.technology, .pl, .zip), so any is accepted and the filters below
# decide from the context instead.
_EMAIL = re.compile(
    r"(?<![\w.%+-])([^\W_](?:[\w.%+-]{0,62}[\w%+-])?)"
    r"@((?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+([^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}))(?![\w-]|\.[^\W_])"
)
# File extensions that are no top-level domain (none is delegated by IANA), so ``icon@2x.png`` or
# ``util@v2.json`` cannot be an address. Extensions that ARE country or generic TLDs (py, pl, sh, rs,
# md, so, cc, ml, mm, pt, ps, ai, tf, zip, mov …) are absent on purpose: ``jan@home.pl`` is a mailbox.
_NON_TLD_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff psd txt text json jsonl yaml yml toml ini cfg conf csv "
    "tsv xml html htm xhtml css scss sass less styl js mjs cjs jsx ts tsx vue pyc pyi pyx pyd ipynb whl egg "
    "tar tgz bz gzip rar jar war class java cpp hpp cxx hxx kt kts rb go swift scala php lua sql bat "
    "cmd exe dll dylib lib obj bin dat npy npz pkl pth onnx ckpt safetensors parquet feather h5 hdf5 log "
    "lock bak tmp swp orig rst tex bib wav ogg webm mkv avi flac ttf otf woff eot map pem crt csr der "
    "env diff patch cs hs jl db gz xz hh rc".split())
# Attributes of arrays/tensors: ``y = a@b.shape`` or ``h@w.grad`` is a matrix product, not a mailbox.
_CODE_ATTRIBUTES = frozenset(
    "shape data grad weight bias values real imag dtype device ndim numpy item transpose conj mean sum "
    "flatten reshape squeeze unsqueeze detach cpu cuda float half double long clone view contiguous "
    "softmax sigmoid exp sqrt abs norm max min argmax argmin tolist".split())
# HiDPI/size/version file-name parts: logo@2x, icon@1.5x, thumb@64x64, notes@v2.
_ASSET_LABEL = re.compile(r"(?i)^(?:\d+(?:\.\d+)?x|\d+x\d+|v\d+)$")
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local", ".internal", ".localdomain",
                      ".lan", ".arpa", ".corp", ".home", ".intranet", ".private", ".tld")
_NOREPLY = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|notifications?)([+._-].*)?$", re.I)
_PLACEHOLDER_LOCAL = frozenset(
    "user username you yourname your.name your_name your-name name someone somebody email e-mail me foo bar "
    "baz test john.doe jane.doe johndoe janedoe firstname.lastname first.last admin root nobody".split())
_CODE_RECEIVERS = frozenset("self cls this super np torch tf os sys".split())


def email_filter(local: str, domain: str, tld: str, line: str, end: int, start: int = -1) -> str | None:
    """The reason an email-shaped match is not personal data, or None if it is.

    Args:
        local, domain, tld: the match's parts.
        line: the whole line; ``start``/``end``: the match's span in it (``start`` -1: unknown).
    """
    raw_tld = tld
    domain, tld = domain.lower(), tld.lower()
    if tld in _NON_TLD_EXTENSIONS:
        return "file_extension"
    labels = domain.split(".")
    if _ASSET_LABEL.match(labels[0]) or _ASSET_LABEL.match(local):
        return "file_name"
    if start > 0 and line[start - 1] in "/\\":
        return "path"
    if start > 0 and re.search(r"//[^\s/@]*$", line[:start]):
        return "url_userinfo"  # https://login:password@host/…: a login, and the key detector's business
    if raw_tld in _CODE_ATTRIBUTES or line[end:end + 1] in ("(", "["):
        return "code"
    if local in _CODE_RECEIVERS or labels[0] in _CODE_RECEIVERS:
        return "code"
    if domain in ("localhost",) or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS) \
            or domain.endswith(_RESERVED_SUFFIXES) or domain.startswith("example."):
        return "reserved_domain"
    if _NOREPLY.match(local) or ".noreply." in "." + domain:
        return "noreply"
    if local.lower() in _PLACEHOLDER_LOCAL:
        return "placeholder"
    if local == "git" or re.match(r":(?!\d)[\w~./-]", line[end:end + 2]):
        return "ssh_remote"
    return None


@DETECTORS.register("email")
def detect_emails(line: str, cfg: DetectConfig, path: str = "") -> Iterator[Hit]:
    for m in _EMAIL.finditer(line):
        if email_filter(m.group(1), m.group(2), m.group(3), line, m.end(), m.start()) is None:
            yield Hit(m.start(), m.group(0), "regex:email")


# ------------------------------------------------------------------------------------------ IPs

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(?![\w:])")
_VERSION_CONTEXT = re.compile(
    r"(?i)(version|__version__|\bver\b|\brelease\b|\bbuild\b|\btag\b|[=<>~!]=\s*['\"]?$|\bv['\"]?$)")
_DOC_V4 = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_PRIVATE_V4 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                      "100.64.0.0/10"))
_DOC_V6 = ipaddress.ip_network("2001:db8::/32")
_ULA_V6 = ipaddress.ip_network("fc00::/7")


def _is_netmask(ip: ipaddress.IPv4Address) -> bool:
    n = int(ip)
    inverted = ~n & 0xFFFFFFFF
    return str(ip).startswith("255.") and (inverted & (inverted + 1)) == 0


def ip_filter(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, line: str, start: int, end: int,
              include_private: bool) -> str | None:
    """The reason an address-shaped match is not an identifying address, or None if it is."""
    if _VERSION_CONTEXT.search(line[max(0, start - 40):start]):
        return "version"
    if re.match(r"/\d", line[end:end + 2]):
        return "cidr"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.version == 4:
        if any(ip in net for net in _DOC_V4):
            return "documentation"
        if _is_netmask(ip) or str(ip) == "255.255.255.255":
            return "netmask"
    elif ip in _DOC_V6:
        return "documentation"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    private = any(ip in net for net in _PRIVATE_V4) if ip.version == 4 else ip in _ULA_V6
    if private:
        return None if include_private else "private"
    if ip.is_reserved or (ip.version == 4 and ip.is_private):
        return "reserved"
    return None


@DETECTORS.register("ipv4")
def detect_ipv4(line: str, cfg: DetectConfig, path: str = "") -> Iterator[Hit]:
    for m in _IPV4.finditer(line):
        try:
            ip = ipaddress.IPv4Address(m.group(1))  # rejects 999.1.1.1 and leading zeros
        except ValueError:
            continue
        if ip_filter(ip, line, m.start(), m.end(), cfg.include_private) is None:
            yield Hit(m.start(), m.group(1), "regex:ipv4")


@DETECTORS.register("ipv6")
def detect_ipv6(line: str, cfg: DetectConfig, path: str = "") -> Iterator[Hit]:
    for m in _IPV6.finditer(line):
        value = m.group(1)
        groups = [g for g in value.split(":") if g]
        # Slices (x[1::2]) and C++ scopes (ab::cd) are valid IPv6 text; real addresses have a full
        # 4-digit group or at least three colons.
        if value.count(":") < 3 and not any(len(g) == 4 for g in groups):
            continue
        try:
            ip = ipaddress.IPv6Address(value)
        except ValueError:
            continue
        if ip.ipv4_mapped is not None:
            continue  # the embedded IPv4 address is reported by the ipv4 detector
        if ip_filter(ip, line, m.start(), m.end(), cfg.include_private) is None:
            yield Hit(m.start(), value, "regex:ipv6")


# ----------------------------------------------------------------------------------------- keys

# Well-known key prefixes detect-secrets 1.5 has no plugin for.
_KEY_PREFIXES = {
    "google": re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"),
    "huggingface": re.compile(r"(?<![\w-])hf_[A-Za-z0-9]{30,40}(?![\w-])"),
    "anthropic": re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{32,}(?![\w-])"),
    "openai": re.compile(r"(?<![\w-])sk-(?:proj-)?[A-Za-z0-9_-]{32,}(?![\w-])"),
}
_HASH_CONTEXT = re.compile(r"(?i)(sha1|sha224|sha256|sha384|sha512|md5|blake2|integrity|checksum|digest|"
                           r"\bhash(es)?\b|\bcommit\b|\brevision\b|\brev\b|\betag\b|\bresolved\b|\bgit_sha\b)")
_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw|pwd|auth|credential|bearer)")
_PLACEHOLDER_KEY = re.compile(r"(?i)^(x{4,}|\*{4,}|\.{4,}|0{8,}|changeme|change[_-]?me|dummy.*|example.*|"
                              r"placeholder.*|your[_-]?.*|insert[_-]?.*|replace[_-]?.*|fake.*|todo.*|redacted)$")
_PATH_LIKE = re.compile(r"/?(?:[a-z0-9_.-]+/)+[a-z0-9_.-]*")
# Windows paths: a registry root (HKEY_LOCAL_MACHINE\…, HKLM\…), a drive (C:\), a UNC share
# (\\server\), an environment variable (%APPDATA%\) or a relative start (.\, ..\). Backslashes
# may be doubled (escaped in a string literal).
_WIN_PATH_START = re.compile(r"(?i)^(?:(?:HKEY_[A-Z_]+|HK(?:LM|CU|CR|CC|U))\\+|[a-z]:\\+|\\{2,}[\w.$-]+\\"
                             r"|%\w+%\\+|\.{1,2}\\+)")
_PATH_SEGMENT = re.compile(r"[\w .$~(){}@-]+")
_ESCAPE_SEGMENT = re.compile(r"(?i)(?:x[0-9a-f]{2}|u[0-9a-f]{4}|[0-7]{1,3}).*|[nrtfvab]")


@lru_cache(maxsize=None)
def _plugins(base64_limit: float, hex_limit: float) -> tuple[Any, ...]:
    """Instances of every detect-secrets plugin except its public-IPv4 one (ours knows more ranges)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

    out = []
    for cls in get_mapping_from_secret_type_to_class().values():
        if cls.__name__ == "IPPublicDetector":
            continue
        if cls is Base64HighEntropyString:
            out.append(cls(limit=base64_limit))
        elif cls is HexHighEntropyString:
            out.append(cls(limit=hex_limit))
        else:
            out.append(cls())
    return tuple(out)


def _ds_filtered(secret: str, line: str, path: str, plugin: Any) -> bool:
    """detect-secrets' own heuristic filters (the ones its scanner applies by default)."""
    from detect_secrets.filters import heuristic as h

    return (h.is_sequential_string(secret) or h.is_potential_uuid(secret)
            or h.is_likely_id_string(secret, line, plugin) or h.is_templated_secret(secret)
            or h.is_prefixed_with_dollar_sign(secret) or h.is_indirect_reference(line)
            or h.is_not_alphanumeric_string(secret) or (bool(path) and h.is_lock_file(path)))


def key_filter(value: str, line: str, start: int, cfg: DetectConfig) -> str | None:
    """The reason a key-shaped match is not a secret, or None if it is."""
    if len(value) < cfg.min_key_length:
        return "too_short"
    if _PLACEHOLDER_KEY.match(value):
        return "placeholder"
    before = line[:start]
    if _HASH_CONTEXT.search(line) and not _SECRET_NAME.search(before):
        return "hash_context"
    if "/" in value and _PATH_LIKE.fullmatch(value):
        return "path"
    if "\\" in value and _is_backslash_path(value):
        return "path"
    descents = sum(b < a for a, b in zip(value, value[1:]))
    if len(set(value)) == len(value) and descents <= 2:  # "ABC…Z234567": an alphabet constant, not random
        return "alphabet"
    return None


def _is_backslash_path(value: str) -> bool:
    """A Windows/registry path: an anchored start, or three or more name-like segments. Escaped
    bytes (``\\x8f\\xa2…``) are no path: a key written as escapes stays a key."""
    if _WIN_PATH_START.match(value):
        return True
    parts = [p for p in re.split(r"\\+", value) if p]
    return (len(parts) >= 3 and all(_PATH_SEGMENT.fullmatch(p) for p in parts)
            and sum(not _ESCAPE_SEGMENT.fullmatch(p) and sum(c.isalpha() for c in p) >= 3 for p in parts) >= 2)


def _secret_span(m: re.Match) -> tuple[int, int]:
    """The secret inside a detect-secrets denylist match: its longest long group, else the whole match
    (its patterns capture either the secret or only a prefix such as ``ghp``)."""
    groups = [i for i in range(1, (m.re.groups or 0) + 1) if m.group(i) and len(m.group(i)) >= 16]
    if groups:
        best = max(groups, key=lambda i: len(m.group(i)))
        return m.span(best)
    # Some patterns end lazily (the JWT signature is ``*?``): extend to the end of the token.
    end = m.end(0)
    while end < len(m.string) and (m.string[end].isalnum() or m.string[end] in "_-+/="):
        end += 1
    return m.start(0), end


@DETECTORS.register("key")
def detect_keys(line: str, cfg: DetectConfig, path: str = "") -> Iterator[Hit]:
    require_extra("privacy", "key detection (detect-secrets)")  # the first detect_secrets use of a scan
    from detect_secrets.plugins.base import RegexBasedDetector

    for name, rx in _KEY_PREFIXES.items():
        for m in rx.finditer(line):
            yield Hit(m.start(), m.group(0), f"prefix:{name}")
    for plugin in _plugins(cfg.base64_limit, cfg.hex_limit):
        if isinstance(plugin, RegexBasedDetector):
            spans = [_secret_span(m) for rx in plugin.denylist for m in rx.finditer(line)]
        else:  # keyword and entropy plugins: they return values; find them in the line
            found = plugin.analyze_line(filename=path or "adhoc.py", line=line, line_number=0)
            spans = []
            for secret in found:
                at = line.find(secret.secret_value)
                if at >= 0:
                    spans.append((at, at + len(secret.secret_value)))
        for s, e in spans:
            value = line[s:e]
            if _ds_filtered(value, line, path, plugin) or key_filter(value, line, s, cfg):
                continue
            yield Hit(s, value, f"detect-secrets:{plugin.secret_type}")


# ------------------------------------------------------------------------------------- scanning

def _dedupe(hits: list[tuple[str, Hit]]) -> list[tuple[str, Hit]]:
    """Drops hits whose span lies inside another's (a key found by two plugins, an IPv4 inside an
    IPv6 address); on equal spans the first kind in ``KINDS`` order wins."""
    hits = sorted(hits, key=lambda kh: (kh[1].start, -len(kh[1].value), KINDS.index(kh[0])))
    kept: list[tuple[str, Hit]] = []
    for kind, hit in hits:
        end = hit.start + len(hit.value)
        if any(h.start <= hit.start and end <= h.start + len(h.value) for _, h in kept):
            continue
        kept.append((kind, hit))
    return kept


def scan_line(line: str, cfg: DetectConfig | None = None, path: str = "") -> list[tuple[str, Hit]]:
    """All (kind, hit) pairs in one line, overlapping ones removed, in column order."""
    cfg = cfg or DetectConfig()
    hits = [(kind, hit) for kind in cfg.kinds for hit in DETECTORS.get(kind)(line, cfg, path)]
    return _dedupe(hits)


def scan_text(text: str, path: str = "<text>", cfg: DetectConfig | None = None, *, first_line: int = 1,
              field: str | None = None, record_line: int | None = None) -> list[Finding]:
    """Every finding in ``text``, in reading order.

    Args:
        text: the content to scan.
        path: the name reported in each finding (also used by detect-secrets to pick the keyword
            rules for YAML/INI/… files).
        cfg: detection settings.
        first_line: the line number of ``text``'s first line.
        field, record_line: for a JSONL record: the field scanned and the record's line in the file.
    """
    cfg = cfg or DetectConfig()
    out = []
    for i, line in enumerate(text.splitlines()):
        for kind, hit in scan_line(line, cfg, path):
            if field is None:
                out.append(Finding(kind, hit.value, path, first_line + i, hit.start + 1, hit.detector))
            else:
                out.append(Finding(kind, hit.value, path, record_line or 0, hit.start + 1, hit.detector,
                                   field=field, field_line=i + 1))
    return out
