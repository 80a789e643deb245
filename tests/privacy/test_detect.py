"""Detectors: real PII is found at the right column, and each false-positive filter holds; on a
labelled sample of code lines (``detect_sample.jsonl``, written for these tests) precision and recall
stay at their measured values."""

import json
from collections import Counter
from pathlib import Path

import pytest

from codehotfix.errors import ConfigError
from codehotfix.privacy.detect import DETECTORS, DetectConfig, key_filter, scan_line, scan_text

SAMPLE = Path(__file__).with_name("detect_sample.jsonl")


def found(line, **cfg):
    return [(kind, hit.value) for kind, hit in scan_line(line, DetectConfig(**cfg))]


@pytest.mark.parametrize("line,kind,value", [
    ('__email__ = "marvo.tiskel@brenwick-labs.com"', "email", "marvo.tiskel@brenwick-labs.com"),
    ("Signed-off-by: Ansel Vortrup <ansel@vortrup.systems>", "email", "ansel@vortrup.systems"),
    ('DB_HOST = "84.201.17.33"', "ipv4", "84.201.17.33"),
    ('ssh deploy@46.101.88.7 "uptime"', "ipv4", "46.101.88.7"),
    ('METRICS_HOST = "2a01:4f8:c17:b8f::2"', "ipv6", "2a01:4f8:c17:b8f::2"),
    ('AWS_ACCESS_KEY_ID = "AKIAZ7QH3K2LMXW9R4TB"', "key", "AKIAZ7QH3K2LMXW9R4TB"),
    ('GITHUB_TOKEN = "ghp_Rk3v9QmZ7xWt2LpN8sYc4HbJ6dFa1UoE5gTi"', "key", "ghp_Rk3v9QmZ7xWt2LpN8sYc4HbJ6dFa1UoE5gTi"),
    ('GOOGLE_KEY = "AIzaSyD3kQ9vXr7LmT2pW8nZc4Hb6Js1FgK0aUe"', "key", "AIzaSyD3kQ9vXr7LmT2pW8nZc4Hb6Js1FgK0aUe"),
    ('SECRET_KEY = "p7Xk2Qm9ZrT4vLw8NcY3sB6hJd1FgKa5UoEiRt0q"', "key", "p7Xk2Qm9ZrT4vLw8NcY3sB6hJd1FgKa5UoEiRt0q"),
    ('t = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.Qm9vZ3VzU2lnbmF0dXJl"', "key",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.Qm9vZ3VzU2lnbmF0dXJl"),
])
def test_positives_are_found(line, kind, value):
    assert found(line) == [(kind, value)]


@pytest.mark.parametrize("line,why", [
    ('contact = "someone@example.com"', "reserved domain"),
    ('EMAIL = "admin@mysite.test"', "reserved suffix"),
    ('DEFAULT_FROM_EMAIL = "noreply@halvocorp.com"', "noreply"),
    ("bot <41898282+github-actions[bot]@users.noreply.github.com>", "github noreply"),
    ('author = "user@company.com"', "placeholder local part"),
    ("git clone git@github.com:kestrel/parser.git", "git remote"),
    ("$ ssh user@host ls", "user@host has no domain"),
    ("y = x@self.weight.T", "code"),
    ('<img src="logo@2x.png">', "file extension is no TLD"),
    ("    @property", "decorator"),
    ("@media screen and (max-width: 600px) {", "css"),
    ('email = "<EMAIL>"', "placeholder"),
    ('__version__ = "1.2.3.4"', "version"),
    ("requests==2.31.0.1", "pinned version"),
    ('HOST = "127.0.0.1"', "loopback"),
    ('app.run(host="0.0.0.0")', "unspecified"),
    ('TEST = "192.0.2.44"', "documentation v4"),
    ('addr = "2001:db8:85a3::8a2e:370:7334"', "documentation v6"),
    ("netmask 255.255.255.0", "netmask"),
    ('NETS = ["10.0.0.0/8"]', "cidr"),
    ('md = "169.254.169.254"', "link-local"),
    ('g = "224.0.0.251"', "multicast"),
    ("listen [::1]:8080;", "v6 loopback"),
    ("evens = xs[1::2]", "slice"),
    ("std::vector<int> ab::cd;", "c++ scope"),
    ('mac = "00:1a:2b:3c:4d:5e"', "mac"),
    ('rid = "550e8400-e29b-41d4-a716-446655440000"', "uuid"),
    ('sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"', "hash"),
    ('commit = "3f786850e387550fdab836ed7e6dc881de23001b"', "commit sha"),
    ('password = os.environ["DB_PASSWORD"]', "indirect"),
    ('api_key = "${API_KEY}"', "templated"),
    ('token = "xxxxxxxxxxxxxxxxxxxxxxxx"', "masked"),
    ('API_KEY = "your-api-key-here"', "placeholder phrase"),
    ('ROOT = "/var/www/harnveld/static/assets/build"', "path"),
    ('alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"', "alphabet"),
])
def test_look_alikes_are_not_pii(line, why):
    assert found(line) == [], why


def test_private_ranges_are_reported_unless_turned_off():
    line = 'redis = "redis://10.14.3.201:6379/0"; v6 = "fd12:3456:789a:1::17"'
    assert found(line) == [("ipv4", "10.14.3.201"), ("ipv6", "fd12:3456:789a:1::17")]
    assert found(line, include_private=False) == []
    assert found('PUBLIC = "84.201.17.33"', include_private=False) == [("ipv4", "84.201.17.33")]


def test_kinds_can_be_restricted_and_are_validated():
    line = 'x = ("a.b@vortrup.systems", "84.201.17.33")'
    assert found(line, kinds=("ipv4",)) == [("ipv4", "84.201.17.33")]
    with pytest.raises(ConfigError, match="unknown kind 'phone'.*valid: email, ipv4, ipv6, key"):
        DetectConfig(kinds=("phone",))
    with pytest.raises(ConfigError, match="base64_limit"):
        DetectConfig(base64_limit=9)
    assert DETECTORS.names() == ["email", "ipv4", "ipv6", "key"]


def test_findings_carry_line_and_column_and_overlaps_are_merged():
    text = "import os\n\nHOSTS = ['84.201.17.33', 'ops@korvimex.com']\n"
    fs = scan_text(text, "conf.py")
    assert [(f.kind, f.line, f.column, f.location) for f in fs] == [
        ("ipv4", 3, 11, "conf.py:3:11"), ("email", 3, 27, "conf.py:3:27")]
    assert text.splitlines()[2][fs[1].column - 1:].startswith("ops@korvimex.com")
    # a key two detect-secrets plugins both match is reported once
    assert len(scan_text('stripe.api_key = "sk_live_9Fq2ZrT7mXw4LpK8vN3sYc6B"')) == 1


# ------------------------------------------- email: top-level domains by rule, not by a short list


@pytest.mark.parametrize("address", [
    # country domains that are also file extensions
    "jan.kowalski@home.pl", "soporte@tienda.com.py", "hello@fabrikant.sh", "mira@kodnet.rs", "ion@intelsoft.md",
    "billing@dahabshiil.so", "tomas@sapo.pt", "lee@pixelforge.cc", "a.keita@orangemali.ml", "team@brightloop.ai",
    # long and new generic domains
    "etienne@semi.technology", "r.okafor@bridgeworks.engineering", "claims@hanse.versicherung",
    "lina@haddad.photography", "pr@greenfield.international",
    # internationalised domains and local parts
    "anna@bücher.com", "kontakt@münchen-bäckerei.de", "josé@correo.españa.es", "info@xn--bcher-kva.com",
    "tanaka@例え.jp", "øystein@fjordsoft.no",
])
@pytest.mark.parametrize("template", ['EMAIL = "{}"', "# Maintainer: Some One <{}>", "{}"])
def test_addresses_with_any_tld_are_found(address, template):
    assert found(template.format(address)) == [("email", address)]


@pytest.mark.parametrize("line,why", [
    ('ICON = "icons/close@3x.webp"', "extension that is no TLD"),
    ('config = load("settings@prod.json")', "extension that is no TLD"),
    ('thumb = f"{name}@64x64.jpg"', "size suffix"),
    ('SPRITES = ["run@2x.pl"]', "HiDPI suffix, even with a real TLD"),
    ('    "notes@v2.md",', "version suffix"),
    ("see static/img/diagram@2x.sh", "path"),
    ("# run tests/fixtures/self@property.py", "self is code"),
    ("self@property.py", "self is code"),
    ("    attn = q@k.transpose(-2, -1)", "a call"),
    ("    n = a@b.shape[0]", "tensor attribute"),
    ("    y = X@coef.values", "tensor attribute"),
    ('@app.route("/users")', "decorator"),
    ("npm install lodash@4.17.21 @babel/core@7.22.5", "package versions"),
    ("git clone git@github.com:kestrel-labs/parser.git", "ssh remote"),
    ('ADMIN = "root@build01.localdomain"', "never-delegated domain"),
    ('placeholder = "ann@domain.tld"', "placeholder domain"),
    ('url = "https://deploy@gitlab.kvarnby.se/infra/charts.git"', "URL login"),
])
def test_file_and_code_references_are_not_addresses(line, why):
    assert [k for k, _ in found(line)] == [], why


# ------------------------------------------------------------------- key: backslash paths


@pytest.mark.parametrize("line", [
    r'RUN_KEY = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"',
    r'key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Run")',
    'POLICY = "HKEY_CURRENT_USER\\\\Software\\\\Policies\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Explorer"',
    r'reg_path = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters\Interfaces"',
    r'secret_key_file = r"C:\ProgramData\NorthwindAgent\Config\KeyStore\AgentSecrets.json"',
    r'token_path = r"\\fileserver01\deployments\TokenStore\ProductionKeys"',
    r'api_key_dir = r"%APPDATA%\KeePassXC\ApiKeys\ServiceAccounts"',
    r'BUILD = r"..\..\Tools\SigningKeys\ReleaseCertificates\Windows"',
])
def test_backslash_paths_are_not_keys(line):
    assert found(line) == []


@pytest.mark.parametrize("value,reason", [
    (r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Vendor", "path"),
    (r"SOFTWARE\JavaSoft\JavaRuntimeEnvironment\CurrentVersion", "path"),
    (r"C:\Qx7Lm2Vb\Zk2Pw9Tn", "path"),
    # escaped bytes are no path: a key written as escapes is still judged as a key
    (r"\x8f\xa2\x13\x99\x41\x7c\xd2\x0e\x55\xab", None),
    (r"p4Qz8rT1vLw9\nX2mK7sB3hJd", None),
])
def test_key_filter_knows_paths_from_escapes(value, reason):
    assert key_filter(value, f'secret = "{value}"', 10, DetectConfig()) == reason


# ----------------------------------------------------------------- the labelled sample


def _score(rows):
    counts = {k: Counter() for k in ("email", "key")}
    for row in rows:
        predicted = {(k, v) for k, v in found(row["line"]) if k in counts}
        expected = {tuple(e) for e in row["expected"]}
        for kind, _ in predicted & expected:
            counts[kind]["tp"] += 1
        for kind, _ in predicted - expected:
            counts[kind]["fp"] += 1
        for kind, _ in expected - predicted:
            counts[kind]["fn"] += 1
    return {k: (c["tp"] / max(c["tp"] + c["fp"], 1), c["tp"] / max(c["tp"] + c["fn"], 1)) for k, c in counts.items()}


def test_labelled_sample_precision_and_recall():
    """86 hand-written lines, 36 addresses and 6 keys. Measured: email precision 0.947 (2 false
    positives: matrix products ``weights@layer2.kernel`` and ``obj@Base.method``), recall 1.0; key
    precision and recall 1.0. Before this change: email 0.929 / 0.361, key 0.750 / 1.0."""
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 80
    scores = _score(rows)
    email_p, email_r = scores["email"]
    key_p, key_r = scores["key"]
    assert email_r == 1.0 and email_p >= 0.94, scores
    assert key_r == 1.0 and key_p == 1.0, scores
    # the classes of issue 13 item 8, line by line
    for row in rows:
        if row["class"] in ("email_ext_tld", "email_long_tld", "email_idn", "backslash_path", "file_ref"):
            assert sorted(map(tuple, row["expected"])) == sorted(found(row["line"])), row
