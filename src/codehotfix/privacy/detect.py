"""Find personal data and secrets in code: emails, IPv4/IPv6 addresses and keys/tokens.

Each kind is a detector registered in ``DETECTORS`` that maps one line to ``(start, value, detector)``
hits. Keys and tokens come from detect-secrets' own plugins (AWS, GitHub, Slack, Stripe, JWT, …,
its keyword plugin and its Base64/hex entropy plugins, run line by line through their public
``analyze_line``/``denylist``, followed by detect-secrets' heuristic filters) plus a few known key
prefixes it lacks. Emails and IP addresses use regular expressions validated by ``ipaddress``.

Code is full of things that look like PII and are not; every filter below exists because of one
(see ``bench/privacy/labelled.jsonl`` for the labelled look-alikes):

- email: RFC 2606/6761 domains (example.com/.org/.net, *.example, *.test, *.invalid, *.localhost),
  noreply/postmaster addresses, placeholder local parts (``user@…``, ``you@…``), git/ssh remotes
  (``git@github.com:org/repo``), code such as ``x@self.weight``, and unknown top-level domains
  (``icon@2x.png``); ``user@host`` without a dot never matches.
- ipv4/ipv6: version contexts (``__version__ = "1.2.3.4"``, ``pkg==1.0.0.1``), loopback,
  unspecified (0.0.0.0, ::), documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
  2001:db8::/32), link-local, multicast, reserved, netmasks, CIDR network prefixes.
  Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) identify an organisation's
  hosts and are reported by default; ``DetectConfig(include_private=False)`` drops them.
- key: detect-secrets' filters (UUIDs, sequential strings, templated ``<KEY>``/``${KEY}``, indirect
  references, ids), hashes in checksum/lockfile contexts, placeholders (``xxxx``, ``changeme``,
  ``your-api-key``) and lowercase file paths.

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

_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.[A-Za-z0-9])"
)
# Generic TLDs seen in code; any other two-letter (country) TLD is accepted unless it is also a
# common file extension, so ``logo@2x.png`` or ``main@v2.py`` are not addresses.
_GENERIC_TLDS = frozenset(
    "com org net edu gov mil int info biz name pro mobi asia aero coop jobs tel travel museum app dev "
    "io ai tech cloud online site xyz email systems solutions software digital network services agency "
    "company studio design media group global world today team works zone codes engineering club".split())
_FILE_EXT_TLDS = frozenset("py sh md rs pl js ts cc cs go rb hs ml jl kt db gz xz so hh mm rc".split())
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local", ".internal")
_NOREPLY = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|notifications?)([+._-].*)?$", re.I)
_PLACEHOLDER_LOCAL = frozenset(
    "user username you yourname your.name your_name your-name name someone somebody email e-mail me foo bar "
    "baz test john.doe jane.doe johndoe janedoe firstname.lastname first.last admin root nobody".split())
_CODE_RECEIVERS = frozenset("self cls this np torch tf os sys".split())


def email_filter(local: str, domain: str, tld: str, line: str, end: int) -> str | None:
    """The reason an email-shaped match is not personal data, or None if it is."""
    domain, tld = domain.lower(), tld.lower()
    if tld not in _GENERIC_TLDS and (len(tld) != 2 or tld in _FILE_EXT_TLDS):
        return "unknown_tld"
    if domain in ("localhost",) or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS) \
            or domain.endswith(_RESERVED_SUFFIXES) or domain.startswith("example."):
        return "reserved_domain"
    if _NOREPLY.match(local) or ".noreply." in "." + domain:
        return "noreply"
    if local.lower() in _PLACEHOLDER_LOCAL:
        return "placeholder"
    if local == "git" or re.match(r":(?!\d)[\w~./-]", line[end:end + 2]):
        return "ssh_remote"
    if domain.split(".", 1)[0] in _CODE_RECEIVERS:
        return "code"
    return None


@DETECTORS.register("email")
def detect_emails(line: str, cfg: DetectConfig, path: str = "") -> Iterator[Hit]:
    for m in _EMAIL.finditer(line):
        if email_filter(m.group(1), m.group(2), m.group(3), line, m.end()) is None:
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
    descents = sum(b < a for a, b in zip(value, value[1:]))
    if len(set(value)) == len(value) and descents <= 2:  # "ABC…Z234567": an alphabet constant, not random
        return "alphabet"
    return None


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
