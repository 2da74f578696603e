"""The remediator and what it stands on: the gates a fix goes through, exemptions, conditional
writes and rollback.

* :mod:`shared.remediation.remediator` — :class:`Remediator`: the gates (mode, scope, loop guard,
  plan, exemptions, dry-run / allow-list, flap guard, hourly cap), act, catch-up, preview, and
  the fixes' options from the settings;
* :mod:`shared.remediation.exemptions` — the ``phiguard-exempt`` tag and the exemption policy;
* :mod:`shared.remediation.writes` — every write conditional (If-Match, or re-read and compare);
* :mod:`shared.remediation.rollback` — the inverse of a recorded fix.
"""

from __future__ import annotations

from shared.remediation.exemptions import (
    EXEMPT_TAG,
    ExemptionError,
    applicable_exemption,
    exemption_refusal,
    parse_exempt_tag,
)
from shared.remediation.remediator import Preview, Remediator, remediation_options
from shared.remediation.rollback import RollbackRefused

__all__ = [
    "EXEMPT_TAG",
    "ExemptionError",
    "Preview",
    "Remediator",
    "RollbackRefused",
    "applicable_exemption",
    "exemption_refusal",
    "parse_exempt_tag",
    "remediation_options",
]
