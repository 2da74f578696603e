"""phiguard's error taxonomy: one base, one transient marker, one decision.

* :class:`PhiguardError` (``shared.kernel.errors``): every error phiguard raises on purpose.
* :class:`TransientError`: retrying later will likely fix it.
* :class:`ServiceError` / :class:`TransientServiceError`: what an outside service (ARM today;
  Graph, GitHub, Teams next) answered once its client's retries were spent: refused (4xx, not
  worth retrying) or still failing (throttled, 5xx, unreachable). Each client has its own pair
  (``ArmError`` / ``TransientArmError``, see ``shared.http.ServiceClient``).
* :func:`is_transient` is the one place that decides "transient": the pipeline redelivers an
  event or leaves a resource to the next sweep on it alone, and records anything else as the
  resource's ERROR (or poison, for a service's refusal).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.kernel.errors import PhiguardError, TransientError

__all__ = [
    "PhiguardError",
    "RedeliverError",
    "ServiceError",
    "StoreUnavailableError",
    "TransientError",
    "TransientServiceError",
    "is_transient",
]


class ServiceError(PhiguardError, RuntimeError):
    """A service refused a request for a reason retrying will not fix (403, 400, ...)."""

    service = "HTTP"  # the service's name in messages: "ARM", "Graph", ...

    def __init__(self, status: int, code: str, message: str, url: str) -> None:
        super().__init__(f"{self.service} {status} {code}: {message} ({urlsplit(url).path})")
        self.status = status
        self.code = code


class TransientServiceError(TransientError, RuntimeError):
    """Throttling, 5xx or network trouble outlasting the client's retry budget; retry later."""


class RedeliverError(TransientError, RuntimeError):
    """Some resources of the delivery hit transient failures; Event Grid must redeliver."""


class StoreUnavailableError(RedeliverError):
    """The state store cannot be reached: said once, naming the endpoint, instead of once per
    resource for minutes."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later will likely succeed: a :class:`TransientError` (ours, including the
    state store's ``ConcurrentUpdateError``), or azure-core's connection errors and its HTTP
    errors with status 429 or 5xx (what a Tables client raises once its own retries are spent).
    """
    if isinstance(exc, TransientError):
        return True
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        return status == 429 or status >= 500
    return False
