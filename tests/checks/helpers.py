"""One resource through the engine, one check's verdict: the helper every check module's tests use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.engine import Engine, Evaluation
from shared.kernel.findings import Finding, Status
from shared.kernel.snapshot import Snapshot

ENGINE = Engine()


def _pick(evaluation: Evaluation, check_id: str) -> Finding | None:
    return next((f for f in evaluation.findings if f.check_id == check_id), None)


def evaluate(
    resource: Mapping[str, Any],
    related: Mapping[str, Any] | None = None,
    phi: bool | None = None,
    resource_group: Mapping[str, Any] | None = None,
) -> Evaluation:
    return ENGINE.evaluate(Snapshot(resource, related or {}, resource_group, phi))


def finding(
    check_id: str,
    resource: Mapping[str, Any],
    related: Mapping[str, Any] | None = None,
    phi: bool | None = None,
    resource_group: Mapping[str, Any] | None = None,
) -> Finding | None:
    """``check_id``'s finding on ``resource``, or None where the check did not run."""
    return _pick(evaluate(resource, related, phi, resource_group), check_id)


def result(
    check_id: str,
    resource: Mapping[str, Any],
    related: Mapping[str, Any] | None = None,
    phi: bool | None = None,
    resource_group: Mapping[str, Any] | None = None,
) -> Finding:
    """``check_id``'s finding on ``resource``; the check must have run."""
    evaluation = evaluate(resource, related, phi, resource_group)
    found = _pick(evaluation, check_id)
    assert found is not None, f"{check_id} did not run: {evaluation.not_assessed}"
    return found


def status(
    check_id: str,
    resource: Mapping[str, Any],
    related: Mapping[str, Any] | None = None,
    phi: bool | None = None,
    resource_group: Mapping[str, Any] | None = None,
) -> Status:
    """The status of ``check_id``'s finding on ``resource``; the check must have run."""
    return result(check_id, resource, related, phi, resource_group).status
