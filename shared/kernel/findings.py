"""Check results and findings: the shapes every output (CLI, API, store, exports) uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status name, not a password
    FAIL = "FAIL"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    # Applicable, but what the verdict needs could not be seen (a related document not fetched,
    # a property the service always returns is absent): never counted as PASS.
    NOT_ASSESSED = "NOT_ASSESSED"
    # A FAIL an approved, unexpired mute rule covers (shared.mutes): recorded and reported with
    # the rule in its evidence, but no exit code 1, no fix, no issue, no notice.
    MUTED = "MUTED"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Result:
    """What a check returns: a status, one sentence saying why, and the values it looked at.

    ``evidence`` maps a JSON path (in the resource, or ``related.<key>...``) to the observed value;
    a missing property appears as the default the check assumed, marked ``"(default)"``.
    """

    status: Status
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def passed(reason: str, evidence: Mapping[str, Any] | None = None) -> Result:
    return Result(Status.PASS, reason, dict(evidence or {}))


def failed(reason: str, evidence: Mapping[str, Any] | None = None) -> Result:
    return Result(Status.FAIL, reason, dict(evidence or {}))


def not_applicable(reason: str, evidence: Mapping[str, Any] | None = None) -> Result:
    return Result(Status.NOT_APPLICABLE, reason, dict(evidence or {}))


def not_assessed(reason: str, evidence: Mapping[str, Any] | None = None) -> Result:
    """The check could not judge: ``reason`` names what it could not see (documents, paths)."""
    return Result(Status.NOT_ASSESSED, reason, dict(evidence or {}))


@dataclass(frozen=True)
class Finding:
    resource_id: str
    resource_type: str
    check_id: str
    status: Status
    severity: Severity
    hipaa: tuple[str, ...]
    title: str
    reason: str
    evidence: Mapping[str, Any]
    phi: bool

    def to_json(self) -> dict[str, Any]:
        """The one finding shape (``FINDING_FIELDS``), used by ``--format json``, the API and exports."""
        return finding_json(self)


FINDING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Finding))
"""The fields of a finding, in the order of its JSON and CSV forms (the one definition every
output derives from: the state store's rows, ``phiguard status``, the API)."""


def finding_json(finding: object) -> dict[str, Any]:
    """The :data:`FINDING_FIELDS` of ``finding`` (a :class:`Finding`, or anything carrying those
    attributes, such as a stored finding) as JSON values: enums by value, sequences as new
    lists, mappings as new dicts."""
    return {name: _json_value(getattr(finding, name)) for name in FINDING_FIELDS}


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value
