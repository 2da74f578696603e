"""The safe auto-fixes: importing this package registers and validates every remediation."""

from __future__ import annotations

from checks import CATALOG
from remediations import (  # noqa: F401 - imported for their registrations
    monitoring,
    network,
    storage,
)
from remediations.plan import Change, Plan, PlanError, Write
from remediations.registry import Remediation, RemediationOptions, registered, validate

REMEDIATIONS: dict[str, Remediation] = validate(registered(), CATALOG)


def permissions() -> list[str]:
    """The sorted union of the RBAC actions every remediation declares (the custom role)."""
    return sorted({a for r in REMEDIATIONS.values() for a in r.rbac_actions})


__all__ = [
    "REMEDIATIONS",
    "Change",
    "Plan",
    "PlanError",
    "Remediation",
    "RemediationOptions",
    "Write",
    "permissions",
]
