"""Which checks run: one selection model for the engine, the CLI (``scan``, ``evaluate``,
``status``) and the sweep's settings (``PHIGUARD_CHECKS`` / ``PHIGUARD_EXCLUDED_CHECKS``).

A selection narrows the catalog by check ids, services, severities, HIPAA sections and the
PHI-only flag (each criterion given must match: ids OR'ed within a criterion, criteria AND'ed),
then removes the excluded check ids and services. The engine built on the selected catalog
asks the ARM reader only for the related documents of the selected checks, and the sweep lists
only the resource types they cover; stored rows of unselected checks are left as they are.

Unknown check ids and services are errors naming them (exit 2 on the command line).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.kernel.errors import PhiguardError
from shared.kernel.findings import Severity

if TYPE_CHECKING:
    from checks import Check


class SelectionError(PhiguardError, ValueError):
    """A selection names what does not exist; the message names it and where it came from."""


def cites(citation: str, wanted: str) -> bool:
    """``164.312`` matches ``164.312(b)`` and ``164.312(a)(1)``; not ``164.3120``."""
    if citation == wanted:
        return True
    if not citation.startswith(wanted):
        return False
    return wanted.endswith(")") or citation[len(wanted)] == "("


def split_values(values: Iterable[str] | None) -> tuple[str, ...]:
    """Repeatable, comma-separated values (``--checks a,b --checks c``), stripped, no empties."""
    out: list[str] = []
    for value in values or ():
        out += [part.strip() for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Selection:
    """What to run. Empty criteria select everything; ``where`` names each criterion's source
    (a flag or a setting) for error messages."""

    checks: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    hipaa: tuple[str, ...] = ()
    phi_only: bool = False
    excluded_checks: tuple[str, ...] = ()
    excluded_services: tuple[str, ...] = ()
    where: tuple[tuple[str, str], ...] = ()

    @property
    def everything(self) -> bool:
        return not (
            self.checks
            or self.services
            or self.severities
            or self.hipaa
            or self.phi_only
            or self.excluded_checks
            or self.excluded_services
        )

    def _source(self, criterion: str) -> str:
        return dict(self.where).get(criterion, criterion)

    def validate(self, catalog: Mapping[str, Check]) -> None:
        """Raises :class:`SelectionError` naming unknown check ids, services, severities or
        HIPAA sections, and where they were given."""
        services = {c.service for c in catalog.values()}
        for criterion, values, known, kind in (
            ("checks", self.checks, set(catalog), "check id"),
            ("excluded_checks", self.excluded_checks, set(catalog), "check id"),
            ("services", self.services, services, "service"),
            ("excluded_services", self.excluded_services, services, "service"),
        ):
            unknown = [v for v in values if v not in known]
            if unknown:
                names = ", ".join(repr(u) for u in unknown[:10])
                hint = f" (services: {', '.join(sorted(services))})" if kind == "service" else ""
                raise SelectionError(
                    f"{self._source(criterion)}: unknown {kind}"
                    f"{'s' if len(unknown) > 1 else ''} {names}{hint}"
                    + ("; `phiguard catalog` lists them" if kind == "check id" else "")
                )
        severities = {s.value for s in Severity}
        bad = [s for s in self.severities if s.upper() not in severities]
        if bad:
            raise SelectionError(
                f"{self._source('severities')}: {bad[0]!r} is not one of "
                + ", ".join(s.value for s in Severity)
            )
        citations = {h for c in catalog.values() for h in c.hipaa}
        for wanted in self.hipaa:
            if not any(cites(c, wanted) for c in citations):
                raise SelectionError(
                    f"{self._source('hipaa')}: no check cites {wanted!r} "
                    "(a citation or prefix such as 164.312(b) or 164.312)"
                )

    def matches(self, check: Check) -> bool:
        if check.id in self.excluded_checks or check.service in self.excluded_services:
            return False
        if self.checks and check.id not in self.checks:
            return False
        if self.services and check.service not in self.services:
            return False
        if self.severities and check.severity.value not in {s.upper() for s in self.severities}:
            return False
        if self.hipaa and not any(cites(c, w) for c in check.hipaa for w in self.hipaa):
            return False
        return not (self.phi_only and not check.phi_only)

    def apply(self, catalog: Mapping[str, Check]) -> dict[str, Check]:
        """The selected checks, in catalog order (validated first)."""
        self.validate(catalog)
        return {k: c for k, c in catalog.items() if self.matches(c)}


def from_setting(
    checks: Sequence[str], excluded: Sequence[str], catalog: Mapping[str, Check]
) -> Selection:
    """The selection of ``PHIGUARD_CHECKS`` / ``PHIGUARD_EXCLUDED_CHECKS``: each value is a check
    id or a service name (check ids always hold an underscore, services never do)."""
    services = {c.service for c in catalog.values()}
    return Selection(
        checks=tuple(v for v in checks if v not in services),
        services=tuple(v for v in checks if v in services),
        excluded_checks=tuple(v for v in excluded if v not in services),
        excluded_services=tuple(v for v in excluded if v in services),
        where=(
            ("checks", "PHIGUARD_CHECKS"),
            ("services", "PHIGUARD_CHECKS"),
            ("excluded_checks", "PHIGUARD_EXCLUDED_CHECKS"),
            ("excluded_services", "PHIGUARD_EXCLUDED_CHECKS"),
        ),
    )
