"""The ARM client: the one azure-core pipeline phiguard's reads and writes go through.

A :class:`~shared.http.ServiceClient` (transport, retries honouring ``Retry-After``, request
counts, same-origin links) with ARM's bearer token audience, ARM's error body and ARM's answers
mapped to typed errors: 408/429/5xx after the retries, and a 409 ARM documents as retryable,
are :class:`TransientArmError`; a 412 is :class:`PreconditionFailed`; a 404 to a GET or DELETE
is the caller's to judge (gone); any other 4xx is :class:`ArmError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypedDict, Unpack
from urllib.parse import urlencode, urlsplit

from shared.errors import ServiceError, TransientServiceError
from shared.http import RequestCounts, ServiceClient

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpResponse

    from shared.config import Settings

# 409 codes ARM answers while another operation holds the resource: retry later.
TRANSIENT_CONFLICTS = frozenset(
    {"AnotherOperationInProgress", "RetryableError", "OperationNotAllowed"}
)


class ArmError(ServiceError):
    """ARM refused a request for a reason retrying will not fix (403, 400, ...)."""

    service = "ARM"


class TransientArmError(TransientServiceError):
    """Throttling, 5xx or network trouble outlasting the retry budget; redeliver later."""


class PreconditionFailed(ArmError):
    """412: the document changed since it was read (If-Match) or exists already (If-None-Match)."""


class ArmClient(ServiceClient):
    """ARM over azure-core's pipeline. Thread-safe; build once per worker and reuse."""

    service: ClassVar[str] = "ARM"
    error: ClassVar[type[ServiceError]] = ArmError
    transient: ClassVar[type[TransientServiceError]] = TransientArmError

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        policies: Iterable[Any] = (),
        counts: RequestCounts | None = None,
        **connection: Unpack[ArmConnection],
    ) -> None:
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        arm_url = arm_url.rstrip("/")
        super().__init__(
            arm_url,
            auth_policy=BearerTokenCredentialPolicy(credential, f"{arm_url}/.default"),
            policies=policies,
            counts=counts,
            **connection,
        )

    def _pipeline_client(self, base_url: str, **kwargs: Any) -> Any:
        from azure.mgmt.core import ARMPipelineClient

        return ARMPipelineClient(base_url, **kwargs)

    def url(self, path: str, api_version: str) -> str:
        """The URL of a resource id (or any ARM path) at ``api_version``."""
        return f"{self.base_url}{path}?{_api_version_query(api_version)}"

    def raise_for_status(self, method: str, url: str, response: HttpResponse) -> None:
        status = response.status_code
        if status == 412:
            code, message = self.error_detail(response)
            raise PreconditionFailed(status, code or "PreconditionFailed", message, url)
        if status == 409:
            code, message = self.error_detail(response)
            if code in TRANSIENT_CONFLICTS:
                raise TransientArmError(f"ARM 409 {code} for {urlsplit(url).path}: {message}")
        if status == 404 and method in ("GET", "DELETE"):
            return  # gone: the caller decides what that means
        super().raise_for_status(method, url, response)

    def error_detail(self, response: HttpResponse) -> tuple[str, str]:
        """ARM's ``{"error": {"code", "message"}}``; else the start of the body."""
        error = json_object(response).get("error")
        if isinstance(error, dict):
            return str(error.get("code", "")), str(error.get("message", ""))[:300]
        return super().error_detail(response)


def json_object(response: HttpResponse) -> dict[str, Any]:
    """The response's JSON object body; {} when empty, not JSON or not an object."""
    if not response.content:
        return {}
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def etag_of(response: HttpResponse, body: Mapping[str, Any] | None) -> str | None:
    """A document's ETag: the header, else the body's ``etag``."""
    header = response.headers.get("ETag")
    if header:
        return str(header)
    value = body.get("etag") if body else None
    return value if isinstance(value, str) and value else None


class ArmConnection(TypedDict, total=False):
    """How a reader or a writer reaches ARM: the keyword arguments both take (see
    :class:`ArmClient`)."""

    ca_cert: str | None
    max_retries: int
    retry_budget_seconds: float
    timeout_seconds: float
    pool_size: int


class ArmUser:
    """What the reader and the writer share: their :class:`ArmClient`, built one way, from
    :class:`ArmConnection`'s keyword arguments or from the settings (:meth:`from_settings`)."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        policies: Iterable[Any] = (),
        **connection: Unpack[ArmConnection],
    ) -> None:
        self.connection: ArmConnection = {
            "ca_cert": None,
            "max_retries": 4,
            "retry_budget_seconds": 30,
            "timeout_seconds": 20,
            "pool_size": 10,
            **connection,
        }
        self.client = ArmClient(arm_url, credential, policies=policies, **self.connection)
        self.arm_url = self.client.base_url
        self._credential = credential

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential) -> Self:
        return cls(
            settings.arm_url,
            credential,
            ca_cert=settings.ca_cert,
            max_retries=settings.arm_max_retries,
            retry_budget_seconds=settings.arm_retry_budget_seconds,
            timeout_seconds=settings.arm_timeout_seconds,
        )

    def close(self) -> None:
        """Closes the connection pool (a short-lived client: a probe)."""
        self.client.close()


@lru_cache(maxsize=256)
def _api_version_query(api_version: str) -> str:
    """``api-version=...`` encoded once per version (the catalog names a few dozen)."""
    return urlencode({"api-version": api_version})
