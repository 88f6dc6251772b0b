"""The pure redaction logic of ssh_read_redacted: a corpus of secrets and of look-alikes."""

from __future__ import annotations

import base64
import re
import secrets

import pytest

from ssh_mcp.tools.sftp_read._redact import (
    PROCESS_KEY,
    looks_random,
    marker,
    redact,
    secret_label,
    shannon,
)

K = b"k" * 32
NL = "\n"


def M(secret: str) -> str:
    return marker(secret, K)


PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
RSA = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
CERT = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
    "RTESMBAGA1UEChMJQmFsdGltb3JlMRMwEQYDVQQLEwpDeWJlclRydXN0MSIwIAYD\n"
    "-----END CERTIFICATE-----\n"
)
B64_KEY = base64.b64encode((RSA + "\n").encode()).decode()
B64_CERT = base64.b64encode(CERT.encode()).decode()
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GHP = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SRI = (
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+Sfa"
    "Pg=="
)

# (id, source, expected, kinds)
SECRETS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("env", "DB_PASSWORD=hunter2\n", f"DB_PASSWORD={M('hunter2')}\n", ("key:password",)),
    (
        "export-quoted",
        'export API_KEY="abc 123"\n',
        f'export API_KEY="{M("abc 123")}"\n',
        ("key:api_key",),
    ),
    ("yaml", "db:\n  passwd: s3cr3t\n", f"db:\n  passwd: {M('s3cr3t')}\n", ("key:password",)),
    (
        "yaml-comment-kept",
        "password: my pass phrase  # rotate monthly\n",
        f"password: {M('my pass phrase')}  # rotate monthly\n",
        ("key:password",),
    ),
    ("yaml-single-quote", "secret: 'it''s'\n", "secret: '" + M("it''s") + "'\n", ("key:secret",)),
    (
        "json-minified",
        '{"user":"bob","password":"a\\"b","port":5432}',
        f'{{"user":"bob","password":"{M(chr(97) + chr(92) + chr(34) + "b")}","port":5432}}',
        ("key:password",),
    ),
    (
        "json-number",
        '{"pin_secret": 1234, "n": 1}',
        f'{{"pin_secret": {M("1234")}, "n": 1}}',
        ("key:secret",),
    ),
    (
        "toml",
        'client_secret = "xyz"\n',
        f'client_secret = "{M("xyz")}"\n',
        ("key:client_secret",),
    ),
    (
        "properties-dotted",
        "spring.datasource.password=x1\n",
        f"spring.datasource.password={M('x1')}\n",
        ("key:password",),
    ),
    ("camel-case", "dbPassword: x2\n", f"dbPassword: {M('x2')}\n", ("key:password",)),
    ("auth-token", "AUTH_TOKEN=t0k\n", f"AUTH_TOKEN={M('t0k')}\n", ("key:token",)),
    (
        "authorization-header",
        "Authorization: Bearer abc.def\n",
        f"Authorization: {M('Bearer abc.def')}\n",
        ("key:auth",),
    ),
    (
        "dsn-whole-value",
        "SENTRY_DSN=https://abc@o1.ingest.sentry.io/1\n",
        f"SENTRY_DSN={M('https://abc@o1.ingest.sentry.io/1')}\n",
        ("key:dsn",),
    ),
    (
        "connection-string",
        'connection_string = "Server=db;Password=y"\n',
        f'connection_string = "{M("Server=db;Password=y")}"\n',
        ("key:connection_string",),
    ),
    ("session", "session: abc123\n", f"session: {M('abc123')}\n", ("key:session",)),
    ("cookie", "COOKIE=chocolate\n", f"COOKIE={M('chocolate')}\n", ("key:cookie",)),
    ("credential", "credentials: c\n", f"credentials: {M('c')}\n", ("key:credential",)),
    ("private-key-name", "private_key = k\n", f"private_key = {M('k')}\n", ("key:private_key",)),
    ("access-key", "access-key: ak\n", f"access-key: {M('ak')}\n", ("key:access_key",)),
    ("mysql-pwd", "MYSQL_PWD=x\n", f"MYSQL_PWD={M('x')}\n", ("key:password",)),
    ("php-arrow", "'password' => 'pw',\n", f"'password' => '{M('pw')}',\n", ("key:password",)),
    (
        "cli-flag",
        "ExecStart=/bin/app --password=foo --port 80\n",
        f"ExecStart=/bin/app --password={M('foo')} --port 80\n",
        ("key:password",),
    ),
    (
        "url-query",
        "hook=https://h.example/x?access_token=abc&b=1\n",
        f"hook=https://h.example/x?access_token={M('abc')}&b=1\n",
        ("key:token",),
    ),
    (
        "flow-mapping",
        "auth: {user: a, password: b}\n",
        f"auth: {{user: a, password: {M('b')}}}\n",
        ("key:password",),
    ),
    (
        "yaml-block-scalar",
        "password: |\n  line one\n  line two\n\nnext: 1\n",
        f"password: |\n  {M('  line one' + chr(10) + '  line two' + chr(10))}\n\nnext: 1\n",
        ("key:password",),
    ),
    (
        "env-multiline-quote",
        'SECRET="a\nb" # c\nOTHER=1\n',
        f'SECRET="{M("a" + chr(10) + "b")}" # c\nOTHER=1\n',
        ("key:secret",),
    ),
    ("pem", f"key:\n{RSA}\nafter\n", f"key:\n{M(RSA)}\nafter\n", ("pem",)),
    ("pem-openssh", f"{OPENSSH}\n", f"{M(OPENSSH)}\n", ("pem",)),
    (
        "pem-unterminated",
        "-----BEGIN PRIVATE KEY-----\nMIIabc\n",
        M("-----BEGIN PRIVATE KEY-----\nMIIabc\n"),
        ("pem",),
    ),
    (
        "pem-in-json-string",
        '{"private_key": "' + RSA.replace("\n", "\\n") + '\\n"}',
        '{"private_key": "' + M(RSA.replace("\n", "\\n")) + '\\n"}',
        ("pem",),
    ),
    (
        "pem-in-yaml-block",
        "private_key: |\n  " + RSA.replace("\n", "\n  ") + "\nnext: 1\n",
        "private_key: |\n  " + M(RSA.replace("\n", "\n  ")) + "\nnext: 1\n",
        ("pem",),
    ),
    (
        "pem-base64-kubeconfig",
        f"client-key-data: {B64_KEY}\n",
        f"client-key-data: {M(B64_KEY)}\n",
        ("pem",),
    ),
    (
        "url-password",
        "DATABASE_URL=postgres://app:s3cret@db:5432/app\n",
        f"DATABASE_URL=postgres://app:{M('s3cret')}@db:5432/app\n",
        ("url-password",),
    ),
    (
        "url-password-with-at",
        'url = "redis://:p@ss@cache:6379/0"\n',
        f'url = "redis://:{M("p@ss")}@cache:6379/0"\n',
        ("url-password",),
    ),
    ("aws", "id AKIAIOSFODNN7EXAMPLE\n", f"id {M('AKIAIOSFODNN7EXAMPLE')}\n", ("token:aws",)),
    ("github", f"gh {GHP}\n", f"gh {M(GHP)}\n", ("token:github",)),
    (
        "github-pat",
        "t github_pat_11ABCDEFG0123456789_abcdefghijkl\n",
        f"t {M('github_pat_11ABCDEFG0123456789_abcdefghijkl')}\n",
        ("token:github",),
    ),
    (
        "slack",
        "hook xoxb-1234567890-abcdefghij\n",
        f"hook {M('xoxb-1234567890-abcdefghij')}\n",
        ("token:slack",),
    ),
    ("jwt", f"bearer {JWT}\n", f"bearer {M(JWT)}\n", ("token:jwt",)),
    (
        "google",
        "maps AIzaSyA1234567890abcdefghijklmnopqrstuv\n",
        f"maps {M('AIzaSyA1234567890abcdefghijklmnopqrstuv')}\n",
        ("token:google",),
    ),
    (
        "stripe",
        "s sk_live_4eC39HqLyjWDarjtT1zdp7dc\n",
        f"s {M('sk_live_4eC39HqLyjWDarjtT1zdp7dc')}\n",
        ("token:stripe",),
    ),
    ("entropy", f"blob {AWS_SECRET}\n", f"blob {M(AWS_SECRET)}\n", ("entropy",)),
    # Issue 8 item 11: everyday spellings, one group per format.
    (
        "dotenv-pass",
        "DB_PASS=hunter2\nexport SMTP_PASS='mail pw'\nDB_PASS_PROD=p2\n",
        f"DB_PASS={M('hunter2')}\nexport SMTP_PASS='{M('mail pw')}'\nDB_PASS_PROD={M('p2')}\n",
        ("key:password",),
    ),
    (
        "pass-camel-and-pw",
        "smtpPass: x1\nADMIN_PW=x2\nKEY_PASSPHRASE=x3\n",
        f"smtpPass: {M('x1')}\nADMIN_PW={M('x2')}\nKEY_PASSPHRASE={M('x3')}\n",
        ("key:password",),
    ),
    (
        "npmrc",
        "//registry.npmjs.org/:_authToken=npm_AbC123\n_auth=dXNlcjpwYXNz\n"
        "//r.example.com/npm/:_password=cGFzcw==\nemail=a@b.c\n",
        f"//registry.npmjs.org/:_authToken={M('npm_AbC123')}\n_auth={M('dXNlcjpwYXNz')}\n"
        f"//r.example.com/npm/:_password={M('cGFzcw==')}\nemail=a@b.c\n",
        ("key:token", "key:auth", "key:password"),
    ),
    (
        "toml-multiline-basic",
        'password = """\nline one\nline \\""" two"""\nnext = 1\n',
        f'password = """{M(NL + "line one" + NL + "line " + chr(92) + chr(34) * 3 + " two")}"""'
        "\nnext = 1\n",
        ("key:password",),
    ),
    (
        "toml-multiline-literal",
        "secret = '''\nabc\n'''\ntoken = '''one line'''\n",
        f"secret = '''{M(chr(10) + 'abc' + chr(10))}'''\ntoken = '''{M('one line')}'''\n",
        ("key:secret", "key:token"),
    ),
    (
        "toml-arrays",
        'tokens = ["t1", "t2"]\napi_keys = [\n  "k1", # old\n  "k2",\n]\nn = 1\n',
        f'tokens = ["{M("t1")}", "{M("t2")}"]\napi_keys = [\n  "{M("k1")}", # old\n'
        f'  "{M("k2")}",\n]\nn = 1\n',
        ("key:token", "key:api_key"),
    ),
    (
        "json-array",
        '{"api_keys": ["k1", 22], "n": 1}',
        f'{{"api_keys": ["{M("k1")}", {M("22")}], "n": 1}}',
        ("key:api_key",),
    ),
    (
        "yaml-list",
        "passwords:\n  - a1\n  # note\n  - 'b c'  # old\nnext: 1\n",
        f"passwords:\n  - {M('a1')}\n  # note\n  - '{M('b c')}'  # old\nnext: 1\n",
        ("key:password",),
    ),
    (
        "yaml-list-block-item",
        "passwords:\n  - |\n    multi\n    line\n  - b2\n",
        f"passwords:\n  - |\n    {M('    multi' + NL + '    line' + NL)}\n  - {M('b2')}\n",
        ("key:password",),
    ),
    (
        "yaml-list-same-indent-and-flow",
        "tokens:\n- t1\n- t2\nsecrets: [s1, 's2']\n",
        f"tokens:\n- {M('t1')}\n- {M('t2')}\nsecrets: [{M('s1')}, '{M('s2')}']\n",
        ("key:token", "key:secret"),
    ),
]

# Look-alikes that must come back byte for byte.
PLAIN: list[tuple[str, str]] = [
    ("min-length", "password_min_length=8\nmin_password_length: 12\n"),
    ("token-count", "token_count: 3\nmax_tokens: 4096\n"),
    ("descriptive", "session_timeout: 30\nPASSWORD_FILE=/run/secrets/db\nauth_method: publickey\n"),
    (
        "more-descriptive",
        "secret_name: db-creds\ncookie_secure: true\nsession.gc_maxlifetime = 1440\n",
    ),
    ("word-boundaries", "author: Jane\ntokenizer: bert-base\nsessions_dir: /var/lib/php\n"),
    ("shell-cwd", "PWD=/root\nOLDPWD=/tmp\n"),
    ("references", "password: ${DB_PASSWORD}\nsecret: '{{ vault_secret }}'\n"),
    (
        "empty-and-bool",
        'password:\npassword: ""\npassword: null\nauth_enabled: true\ntoken: false\n',
    ),
    ("structure", 'auth:\n  user: u\n"credentials": {\n  "type": "x"\n}\n'),
    ("prose", "# set the password below, then restart\n"),
    ("npm-lock", f'"integrity": "{SRI}",\n'),
    ("yarn-lock", f"  integrity {SRI}\n"),
    ("pnpm-lock", f"resolution: {{integrity: {SRI}}}\n"),
    ("go-sum", "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWG=\n"),
    ("cargo-lock", f'checksum = "{SHA256}"\n'),
    ("poetry-lock", f'{{file = "a.whl", hash = "sha256:{SHA256}"}}\n'),
    ("terraform-lock", '  "h1:Ps1ZPmpiGtT6RFb1ArBhbxV9a5cOiCAGWMnHPBeVjlA=",\n'),
    ("flake-lock", '"narHash": "sha256-Bv1nGxrhqT3RBd6Oe9mrWq7Vv3jPzVZwJ7CwPlfHsT8=",\n'),
    ("sha256sum", f"{SHA256}  release.tar.gz\n"),
    ("docker-digest", f"image: nginx@sha256:{SHA256}\n"),
    ("git-sha", "rev: 3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a0f9\n"),
    (
        "uuid",
        "id: 550e8400-e29b-41d4-a716-446655440000\nID: 550E8400-E29B-41D4-A716-446655440000\n",
    ),
    (
        "ssh-pubkey",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl u@h\n",
    ),
    ("certificate", CERT),
    ("certificate-base64", f"certificate-authority-data: {B64_CERT}\n"),
    (
        "identifiers",
        "class: AbstractSingletonProxyFactoryBean2X\n"
        "main: com.example.MyApplication2Configuration\n",
    ),
    ("paths", "lib: /usr/lib/x86_64-linux-gnu/libGLX_mesa.so.0\n"),
    ("urls-without-password", "a: https://user@host/x\nb: http://host:8080/p?q=1\n"),
    ("hex-secretish-but-free", f"etag {SHA256}\n"),
    ("pass-inside-words", "PASSAGE=long\nbypass_cache=true\ncompass: north\npassenger: bob\n"),
    ("pass-settings", "PASS_MAX_DAYS\t99999\nSMTP_PASS_FILE=/run/secrets/smtp\n"),
    (
        "npmrc-settings",
        "registry=https://r.example/\n//r.example/:always-auth=true\n//r.example/:username=bob\n",
    ),
    ("secret-key-mapping", "credentials:\n  user: u\n  kind: basic\n"),
    ("secret-key-list-of-mappings", "api_keys:\n  - name: ci\n    scope: read\n"),
    ("secret-list-references", 'tokens = ["${A}", ""]\npasswords:\n  - "{{ vault_pw }}"\n'),
    ("plain-lists", "hosts:\n  - a\n  - b\nports = [1, 2]\n"),
    ("toml-multiline-plain", 'description = """\ntext\n"""\n'),
]


@pytest.mark.parametrize(
    ("source", "expected", "kinds"),
    [c[1:] for c in SECRETS],
    ids=[c[0] for c in SECRETS],
)
def test_secrets_are_redacted(source: str, expected: str, kinds: tuple[str, ...]) -> None:
    out = redact(source, K)
    assert out.text == expected
    assert out.kinds == kinds
    assert out.count == expected.count("[REDACTED:")


@pytest.mark.parametrize("source", [c[1] for c in PLAIN], ids=[c[0] for c in PLAIN])
def test_look_alikes_are_left_alone(source: str) -> None:
    out = redact(source, K)
    assert (out.text, out.count, out.kinds) == (source, 0, ())


def test_corpus_is_big_enough() -> None:
    assert len(SECRETS) + len(PLAIN) >= 25


@pytest.mark.parametrize("source", [c[1] for c in SECRETS], ids=[c[0] for c in SECRETS])
def test_redacting_twice_changes_nothing(source: str) -> None:
    once = redact(source, K)
    twice = redact(once.text, K)
    assert (twice.text, twice.count) == (once.text, 0)


def test_equal_secrets_share_a_marker_and_different_ones_do_not() -> None:
    out = redact("A_PASSWORD=same\nB_TOKEN=same\nC_SECRET=other\n", K)
    assert out.text == f"A_PASSWORD={M('same')}\nB_TOKEN={M('same')}\nC_SECRET={M('other')}\n"
    assert out.count == 3 and out.kinds == ("key:password", "key:token", "key:secret")
    assert M("same") != M("other")


def test_markers_are_keyed_and_short() -> None:
    assert re.fullmatch(r"\[REDACTED:hmac-sha256:[0-9a-f]{12}\]", M("x"))
    assert marker("x", K) != marker("x", b"other-key" * 4)
    # The default key is this process's own: stable within the run.
    assert redact("password=x").text == f"password={marker('x', PROCESS_KEY)}"


def test_kinds_are_distinct_and_in_order_of_first_use() -> None:
    source = f"password=a\n{RSA}\nurl=https://u:p@h/\npassword=b\ngh {GHP}\n"
    out = redact(source, K)
    assert out.kinds == ("pem", "key:password", "url-password", "token:github")
    assert out.count == 5
    for secret in ("=a", "=b", ":p@", GHP, PEM_BODY):
        assert secret not in out.text


def test_entropy_can_be_switched_off() -> None:
    assert redact(f"blob {AWS_SECRET}\n", K, entropy=False).count == 0


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("DB_PASSWORD", "password"),
        ("dbPassword", "password"),
        ("passwd", "password"),
        ("DB_PWD", "password"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("aws_access_key_id", "access_key"),
        ("apiKey", "api_key"),
        ("X-API-Key", "api_key"),
        ("oauth_client_secret", "client_secret"),
        ("authToken", "token"),
        ("csrftoken", "token"),
        ("basic_auth", "auth"),
        ("Authorization", "auth"),
        ("sentry_dsn", "dsn"),
        ("ConnectionString", "connection_string"),
        ("SESSION_KEY", "session"),
        ("cookies", "cookie"),
        ("secret_key_base", "secret"),
        ("password_hash", "password"),
        ("pwd", None),
        ("author", None),
        ("tokenizer", None),
        ("certificate_authority", None),
        ("password_min_length", None),
        ("token_count", None),
        ("auth_username", None),
        ("private_key_path", None),
        ("session_timeout", None),
        ("user", None),
        ("max_tokens", None),
        ("", None),
    ],
)
def test_secret_label(key: str, label: str | None) -> None:
    assert secret_label(key) == label


def test_entropy_heuristic_is_conservative() -> None:
    assert shannon("") == 0.0 and shannon("aaaa") == 0.0 and shannon("ab") == 1.0
    # Random base64url tokens of 40+ chars are caught nearly always...
    caught = sum(looks_random(secrets.token_urlsafe(30)) for _ in range(500))
    assert caught >= 450
    # ...and hex never is, nor short strings, nor all-lower/upper ones.
    assert not looks_random(secrets.token_hex(32))
    assert not looks_random("Ab1" * 10)
    assert not looks_random("abcdefghijklmnopqrstuvwxyz0123456789")


def test_large_input_stays_linear() -> None:
    """Many candidates on one long line: per-match work must not rescan the line."""
    import time

    text = ("Ab1" * 11 + " ") * 30_000 + "{" + '"password": 1, ' * 30_000 + "}"
    start = time.perf_counter()
    out = redact(text, K)
    assert out.count == 30_000
    assert time.perf_counter() - start < 10  # ~1 s here; quadratic was minutes
