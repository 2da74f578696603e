"""The auth policy of the issue trackers: fixed headers (a token among them) on every attempt,
after the retry policy. The secret lives in this object only; its repr never shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy


class HeadersPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"HeadersPolicy({sorted(self._headers)} values redacted)"

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers.update(self._headers)
