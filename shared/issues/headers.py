"""The pipeline policies of the issue trackers.

* :class:`HeadersPolicy`: fixed headers (a token among them) on every attempt, after the retry
  policy. The secret lives in this object only; its repr never shows it.
* :class:`CappedRetryPolicy`: azure-core's retries, except that an answer asking to wait longer
  than ``max_wait`` seconds (GitHub's secondary limits ask a minute) is not waited for in
  process: the client raises its transient error carrying ``retry_after``, and the caller (the
  outbox's dispatcher) retries when it says. An event worker never sleeps a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

MAX_RETRY_WAIT = 10.0


class HeadersPolicy(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"HeadersPolicy({sorted(self._headers)} values redacted)"

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers.update(self._headers)


class CappedRetryPolicy(RetryPolicy[Any, Any]):
    def __init__(self, *, max_wait: float = MAX_RETRY_WAIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wait = max_wait

    @classmethod
    def like(
        cls, policy: RetryPolicy[Any, Any], max_wait: float = MAX_RETRY_WAIT
    ) -> CappedRetryPolicy:
        return cls(
            max_wait=max_wait,
            retry_total=policy.total_retries,
            retry_backoff_factor=policy.backoff_factor,
            retry_backoff_max=policy.backoff_max,
            timeout=policy.timeout,
        )

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        wait = self.get_retry_after(response)
        if wait is not None and wait > self.max_wait:
            return False
        return bool(super().is_retry(settings, response))


def capped(policies: list[Any], max_wait: float = MAX_RETRY_WAIT) -> list[Any]:
    """``policies`` with azure-core's retry policy replaced by a :class:`CappedRetryPolicy`."""
    return [
        CappedRetryPolicy.like(p, max_wait)
        if isinstance(p, RetryPolicy) and not isinstance(p, CappedRetryPolicy)
        else p
        for p in policies
    ]
