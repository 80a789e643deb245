"""Detectors: real PII is found at the right column, and each false-positive filter holds."""

import pytest

from codehotfix.errors import ConfigError
from codehotfix.privacy.detect import DETECTORS, DetectConfig, scan_line, scan_text


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
