"""Credentials for talking to the simulated tenant with the real Azure SDK clients.

The sim accepts any non-empty bearer token. When the token is a JWT (signature not checked), its
claims (``appid``, ``oid``, ``tid``, ``upn``, ...) become the caller's claims in the emitted
events and the principal for throttling; otherwise a default service principal is assumed.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

FAR_FUTURE = 4102444800  # 2100-01-01


def fake_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (``alg: none``) carrying ``claims``; the sim reads but never verifies it."""

    def part(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": FAR_FUTURE, **claims}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


def decode_jwt(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, or None when ``token`` is not one."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return None
    try:
        padded = pieces[1] + "=" * (-len(pieces[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


class StaticTokenCredential:
    """A ``TokenCredential`` that always returns the same far-future token (default ``"fake"``)."""

    def __init__(self, token: str = "fake", expires_on: int = FAR_FUTURE) -> None:  # noqa: S107
        if not token:
            raise ValueError("token must be non-empty")
        self.token = token
        self.expires_on = expires_on

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self.token, self.expires_on)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, self.expires_on)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *args: object) -> None:
        return None
