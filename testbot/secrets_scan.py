"""Credentials in what testbot writes: kept tests, reports, pull-request payloads.

Whatever the sandbox lets a candidate read, nothing that looks like a credential leaves testbot: every kept
test is scanned before it is written (a hit drops the test and says why), and every report, line of output
and publication is scanned before it goes out (a hit is replaced by ``[redacted: <kind>]``).

The detectors are detect-secrets' (Yelp's maintained scanner): known token formats (GitHub, GitLab, AWS,
Slack, Stripe, OpenAI, PyPI, npm, JWTs, ...; the token formats also written backwards, in hexadecimal or in
base64), private keys, secret-named assignments, and high-entropy strings. Its high-entropy detectors, run on
one line at a time, report every quoted word with its entropy; here a string counts only when it is long (20
characters or more) and above detect-secrets' own limits (4.5 bits per character for base64-like text, 3.0 for
hexadecimal). A value the project itself holds in its source (a hash a test of a hashing module checks, a
constant) is not a leak: the caller passes those as ``known``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

MIN_ENTROPY_LENGTH = 20  # shorter quoted words are words, not keys
_LIMITS = {"Base64 High Entropy String": 4.5, "Hex High Entropy String": 3.0}
_IGNORED = {"Public IP (ipv4)"}  # an address in a test of a parser is not a secret
_GIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a commit or object id: said in reports, not a credential
# Token formats that are as much a credential written backwards (a test pinning a reversed value), looked for on
# the reversed line too; the entropy detectors read a word the same either way.
_REVERSIBLE = frozenset(
    {
        "AWS Access Key",
        "GitHub Token",
        "GitLab Token",
        "OpenAI Token",
        "PyPI Token",
        "NPM tokens",
        "Slack Token",
        "Stripe Access Key",
        "SendGrid API Key",
        "Discord Bot Token",
        "Telegram Bot Token",
        "Twilio API Key",
        "Mailchimp Access Key",
    }
)


@dataclass(frozen=True)
class Hit:
    kind: str  # detect-secrets' name for it: "GitHub Token", "Private Key", "Hex High Entropy String", ...
    line: int  # 1-based line of the text it was found on
    value: str  # what matched (never shown: only its kind and line are said)


_PLUGINS: list = []


def _plugins() -> list:
    """detect-secrets' detectors, made once (its settings are global; this keeps them out of the way)."""
    if not _PLUGINS:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        for kind, cls in sorted(get_mapping_from_secret_type_to_class().items()):
            if kind in _IGNORED:
                continue
            try:
                _PLUGINS.append((kind, cls()))
            except TypeError:  # a detector that needs settings of its own: left out
                continue
    return _PLUGINS


def _entropy(plugin, value: str) -> float:
    try:
        return float(plugin.calculate_shannon_entropy(value))
    except (AttributeError, TypeError, ValueError):
        return 0.0


_WORD = re.compile(rf"[A-Za-z0-9+/_\-]{{{MIN_ENTROPY_LENGTH},}}={{0,2}}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----.*?(-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.S
)


def _found(kind: str, plugin, line: str) -> list[str]:
    """What ``plugin`` finds on ``line``: the whole match for a pattern detector (detect-secrets reports some
    by a group, ``ghp``), else what it reports."""
    values = [str(v) for v in plugin.analyze_string(line)]
    patterns = getattr(plugin, "denylist", None)
    if values and patterns and kind not in _LIMITS:
        whole = [m.group(0) for regex in patterns for m in regex.finditer(line)]
        values = [w for w in whole if len(w) >= 8] or values
    return values


_QUOTED = re.compile(r"""[bB]?(?:'([^'\\\n]*)'|"([^"\\\n]*)")""")
_DIGESTS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "blake2b", "blake2s", "sha3_256")


def _digests_of_literals(text: str) -> set[str]:
    """The hex digests (md5, sha1, sha2, blake2, sha3) of every quoted string in ``text``: a test of a hashing
    function checks one of those, and that is no leak (``checksum(b"abc") == "ba7816bf..."``)."""
    import hashlib

    out = set()
    for m in _QUOTED.finditer(text):
        raw = (m.group(1) if m.group(1) is not None else m.group(2) or "").encode()
        for name in _DIGESTS:
            out.add(hashlib.new(name, raw).hexdigest())
    return out


def _decodings(word: str) -> list[str]:
    """``word`` decoded from hexadecimal or base64, where that gives printable ASCII text."""
    import base64
    import binascii

    out = []
    for decode in (bytes.fromhex, lambda w: base64.b64decode(w + "=" * (-len(w) % 4), validate=True)):
        try:
            raw = decode(word)
        except (binascii.Error, ValueError):
            continue
        if raw.isascii() and raw.decode("ascii").isprintable():
            out.append(raw.decode("ascii"))
    return out


def find(text: str, known: Collection[str] = (), ids_ok: bool = False) -> list[Hit]:
    """The credentials in ``text``, line by line, leaving out values that are in ``known`` and (``ids_ok``)
    commit ids. Besides detect-secrets' detectors (which see quoted strings only), any long word of
    base64-like or hexadecimal text above the entropy limits counts, quoted or not."""
    hits: list[Hit] = []
    entropy = dict(_plugins())
    digests: set[str] | None = None

    def add(kind: str, number: int, value: str) -> None:
        nonlocal digests
        if value in known or (len(value) >= 8 and any(value in k for k in known)):
            return
        if kind == "Hex High Entropy String":
            digests = _digests_of_literals(text) if digests is None else digests
            if value.lower() in digests:
                return
        if ids_ok and _GIT_ID.fullmatch(value):
            return
        hits.append(Hit(kind, number, value))

    for number, line in enumerate(text.splitlines(), 1):
        line = line[:20000]
        for kind, plugin in _plugins():
            try:
                found = _found(kind, plugin, line)
                if kind in _REVERSIBLE:
                    found += [value[::-1] for value in _found(kind, plugin, line[::-1])]
            except Exception:  # noqa: BLE001 - a detector's own bug must not stop the scan of the others
                continue
            for value in found:
                if kind in _LIMITS and (len(value) < MIN_ENTROPY_LENGTH or _entropy(plugin, value) <= _LIMITS[kind]):
                    continue
                add(kind, number, value)
        words = _WORD.findall(line)
        # (a path's parts are read one by one: "/tmp/testbot-abc123/runs" is not a key)
        words = [w for word in words for w in (word.split("/") if word.startswith("/") else [word])]
        for word in words:
            if len(word) < MIN_ENTROPY_LENGTH:
                continue
            # a token format inside hex or base64 is a credential whatever the entropy says
            token = next(
                (
                    kind
                    for plain in _decodings(word)
                    for kind, plugin in _plugins()
                    if kind in _REVERSIBLE and _found(kind, plugin, plain)
                ),
                None,
            )
            if token is not None:
                add(token, number, word)
                continue
            kind = "Hex High Entropy String" if _HEX.fullmatch(word) else "Base64 High Entropy String"
            if (
                kind in entropy
                and _entropy(entropy[kind], word) > _LIMITS[kind]
                and not any(word in h.value or h.value in word for h in hits if h.line == number)
            ):
                add(kind, number, word)
    for match in _PRIVATE_KEY.finditer(text):
        add("Private Key", text.count("\n", 0, match.start()) + 1, match.group(0))
    return hits


def redact(text: str, known: Collection[str] = ()) -> str:
    """``text`` with every credential :func:`find` sees replaced by ``[redacted: <kind>]`` (commit ids stay)."""
    hits = find(text, known, ids_ok=True)
    for hit in sorted(hits, key=lambda h: -len(h.value)):
        text = text.replace(hit.value, f"[redacted: {hit.kind}]")
    return text


def describe(hits: Iterable[Hit]) -> str:
    """What was found, without the values: "GitHub Token (line 4), Private Key (line 9)"."""
    seen = dict.fromkeys(f"{h.kind} (line {h.line})" for h in hits)
    return ", ".join(seen)


def project_strings(root: Path, limit_bytes: int = 20 * 1024**2) -> frozenset[str]:
    """The string constants in a project's own Python files (its source and its tests): values a kept test may
    repeat without leaking anything. Files that look like credentials (``.env``, keys) are not read."""
    out: set[str] = set()
    seen = 0
    for path in sorted(root.rglob("*.py")):
        parts = set(path.relative_to(root).parts)
        if parts & {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox", "site-packages"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        seen += len(text)
        if seen > limit_bytes:
            break
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 8:
                out.add(node.value)
    return frozenset(out)
