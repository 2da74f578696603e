"""The PHI and secret guard every rendered payload passes before it is enqueued.

A payload (a Teams message, an email's subject, HTML and text) is walked string by string; it
is refused (:class:`PayloadLeak`) when a string carries

* a value the notice marked sensitive: a tag value other than the owner tag's, a value from a
  check's evidence (``shared.notify.model.sensitive_values``);
* a configured secret: the Teams webhook URL or its path (the path of an incoming webhook is
  the credential), the SMTP password, the ACS access key;
* something shaped like a secret or an identifier phiguard never sends: a storage account key
  or SAS signature, a bearer token, a US Social Security number.

The message of :class:`PayloadLeak` names what was found and where (a JSON path), never the
value.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.kernel.errors import PhiguardError

_PATTERNS = (
    ("an account key", re.compile(r"(?i)accountkey\s*=")),
    ("a SAS signature", re.compile(r"(?i)[?&]sig=")),
    ("an access key", re.compile(r"(?i)accesskey\s*=")),
    ("a bearer token", re.compile(r"(?i)bearer\s+ey[A-Za-z0-9_-]{8,}")),
    ("a JWT", re.compile(r"\bey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.")),
    ("a password", re.compile(r"(?i)\b(password|pwd)\s*[=:]\s*\S")),
    ("a Social Security number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
)


_ESCAPED = re.compile(r"\\(.)")


class PayloadLeak(PhiguardError, ValueError):
    """A rendered payload carries a sensitive value; it is not sent."""


def _strings(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _readings(text: str) -> set[str]:
    """A string as it is stored and as a reader sees it: Markdown's backslash escapes (a card)
    and HTML's character references (an email) undone, so escaping never hides a value."""
    plain = _ESCAPED.sub(r"\1", text)
    return {text, plain, html.unescape(text), html.unescape(plain)}


def secret_forms(secret: str) -> set[str]:
    """A secret and the parts of it that are secrets on their own (a URL's path and query)."""
    forms = {secret}
    if secret.startswith(("http://", "https://")):
        parts = urlsplit(secret)
        if len(parts.path) > 8:
            forms.add(parts.path)
        if parts.query:
            forms.add(parts.query)
    return {f for f in forms if len(f) >= 6}


@dataclass(frozen=True)
class PayloadGuard:
    """Checks rendered payloads against the configured secrets and a notice's sensitive values."""

    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    @classmethod
    def of(cls, secrets: Iterable[str | None]) -> PayloadGuard:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= secret_forms(secret)
        return cls(frozenset(forms))

    def check(self, payload: Any, sensitive: Iterable[str] = ()) -> None:
        """Raises :class:`PayloadLeak` if ``payload`` carries a sensitive value, a secret or a
        secret-shaped string."""
        needles = [(s.casefold(), "a sensitive value (tag or evidence)") for s in sensitive if s]
        needles += [(s.casefold(), "a configured secret") for s in self.secrets]
        for path, raw in _strings(payload):
            for text in _readings(raw):
                folded = text.casefold()
                for needle, what in needles:
                    if needle in folded:
                        raise PayloadLeak(f"payload carries {what} at {path}")
                for what, pattern in _PATTERNS:
                    if pattern.search(text):
                        raise PayloadLeak(f"payload carries {what} at {path}")
