"""The error taxonomy: one base for every error phiguard raises, one transient marker, and
``is_transient`` the one decision the pipeline redelivers on."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

import checks
import remediations
import shared
from shared.arm import ArmError, PreconditionFailed, TransientArmError
from shared.errors import (
    PhiguardError,
    RedeliverError,
    ServiceError,
    StoreUnavailableError,
    TransientError,
    TransientServiceError,
    is_transient,
)
from shared.kernel import errors as kernel_errors
from shared.kernel.resource_id import ResourceIdError
from shared.kernel.snapshot import MalformedResource
from shared.state.model import ConcurrentUpdateError


def _modules() -> Iterator[str]:
    for package in (shared, checks, remediations):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":
                yield info.name


def _exception_classes() -> Iterator[type[BaseException]]:
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                yield value


def test_every_error_class_of_the_product_derives_from_the_base() -> None:
    found = list(_exception_classes())
    assert len(found) >= 20
    strays = [f"{c.__module__}.{c.__qualname__}" for c in found if not issubclass(c, PhiguardError)]
    assert not strays, f"derive these from shared.kernel.errors.PhiguardError: {strays}"


def test_kernel_errors_derive_from_the_kernel_base_and_keep_their_builtin_one() -> None:
    assert PhiguardError is kernel_errors.PhiguardError
    assert TransientError is kernel_errors.TransientError
    for cls in (ResourceIdError, MalformedResource):
        assert issubclass(cls, kernel_errors.PhiguardError) and issubclass(cls, ValueError)


def _http_error(status: int | None) -> HttpResponseError:
    error = HttpResponseError("boom")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    "exc",
    [
        TransientArmError("throttled"),
        ConcurrentUpdateError("raced"),
        RedeliverError("later"),
        StoreUnavailableError("down"),
        TransientServiceError("later"),
        ServiceRequestError("connection refused"),
        ServiceResponseError("connection reset"),
        _http_error(500),
        _http_error(503),
        _http_error(429),
    ],
    ids=lambda e: f"{type(e).__name__}{getattr(e, 'status_code', '') or ''}",
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ArmError(403, "AuthorizationFailed", "no", "https://arm/x"),
        PreconditionFailed(412, "PreconditionFailed", "changed", "https://arm/x"),
        ServiceError(400, "Bad", "bad", "https://graph/x"),
        _http_error(404),
        _http_error(409),
        _http_error(None),
        ResourceNotFoundError("gone"),
        ClientAuthenticationError("no token"),
        ValueError("bug"),
        KeyError("bug"),
    ],
    ids=lambda e: f"{type(e).__name__}{getattr(e, 'status_code', '') or ''}",
)
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_service_errors_name_the_service_and_the_path_never_the_query() -> None:
    error = ArmError(403, "AuthorizationFailed", "denied", "https://arm.example/subs/s1?sig=secret")
    assert str(error) == "ARM 403 AuthorizationFailed: denied (/subs/s1)"
    assert (error.status, error.code) == (403, "AuthorizationFailed")
    assert isinstance(error, RuntimeError)  # code that caught RuntimeError still does
    assert not isinstance(TransientArmError("x"), ArmError)  # callers tell them apart
