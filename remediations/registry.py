"""The remediation decorator and its registry (validated at import).

A remediation is the safe, automatic fix of one or more checks. It is declared with
:func:`remediation` on a pure *decide* function ``(Snapshot, RemediationOptions) -> Change | None``
that says which JSON paths (:mod:`remediations.paths`) must take which values (or None when the
resource already complies), plus a pure *writes_for* function that turns "these paths must hold
these values" into ARM writes against the snapshot's current documents. :meth:`Remediation.plan`
combines both into a :class:`~remediations.plan.Plan`: the writes, the old values, and the inverse
writes that put the old values back. Nothing here does I/O; the only code that writes is
:mod:`shared.remediation` through :mod:`shared.arm.writer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from checks.registry import RegistryError
from remediations.paths import covers, parse_path
from remediations.plan import (
    Change,
    Plan,
    PlanError,
    Write,
    WritesFunc,
    apply_writes,
    make_plan,
)
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot

if TYPE_CHECKING:
    from checks.registry import Check

# Names other modules import from here (the plan and the path language lived in this module).
__all__ = [
    "MODES",
    "SERVICES",
    "Change",
    "DecideFunc",
    "Mode",
    "NsgStrategy",
    "Plan",
    "PlanError",
    "Remediation",
    "RemediationOptions",
    "Write",
    "WritesFunc",
    "apply_writes",
    "check_statuses",
    "is_phi",
    "parse_path",
    "registered",
    "remediation",
    "validate",
]

Mode = Literal["off", "dry-run", "enforce"]
MODES: tuple[Mode, ...] = ("off", "dry-run", "enforce")
NsgStrategy = Literal["deny", "restrict"]

SERVICES = ("network", "monitoring", "storage")

_ID_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_TYPE_RE = re.compile(r"^[a-z0-9.]+/[a-z0-9./]+$")
_ACTION_RE = re.compile(r"^Microsoft\.[A-Za-z]+(/[A-Za-z]+)+/(write|delete|action)$")


@dataclass(frozen=True)
class RemediationOptions:
    """What the customer configures for the fixes (the application builds it from its settings:
    ``shared.remediation.remediation_options``)."""

    admin_cidrs: tuple[str, ...] = ()
    nsg_strategy: NsgStrategy = "deny"
    workspace_id: str | None = None
    archive_storage_id: str | None = None
    # The archive account's Azure region, when known (the remediator reads it once): Azure
    # refuses a storage destination in another region than a regional resource it logs.
    archive_storage_location: str | None = None


DecideFunc = Callable[[Snapshot, RemediationOptions], Change | None]


@dataclass(frozen=True)
class Remediation:
    id: str
    title: str
    fixes: tuple[str, ...]
    resource_types: tuple[str, ...]
    writes: tuple[str, ...]  # declared JSON paths, [*] allowed
    reversible: bool
    disruptive: str
    rbac_actions: tuple[str, ...]
    default_mode: Mode
    phi_only: bool
    service: str
    decide: DecideFunc = field(repr=False, compare=False)
    writes_for: WritesFunc = field(repr=False, compare=False)

    @property
    def description(self) -> str:
        return " ".join((self.decide.__doc__ or "").split())

    def declares(self, path: str) -> bool:
        return any(covers(pattern, path) for pattern in self.writes)

    def applies_to(self, resource_type: str) -> bool:
        return resource_type.lower() in self.resource_types

    def plan(self, snapshot: Snapshot, options: RemediationOptions | None = None) -> Plan | None:
        """The plan for ``snapshot``, or None when it already complies. Pure. Raises PlanError
        (a ValueError) when no safe plan can be made, also for a document nested too deeply to
        copy: whoever can tag a resource can nest a value hundreds of levels deep."""
        options = options or RemediationOptions()
        try:
            change = self.decide(snapshot, options)
            if change is None:
                return None
            undeclared = [p for p in change.after if not self.declares(p)]
            if undeclared:
                raise PlanError(f"{self.id} would write undeclared paths: {', '.join(undeclared)}")
            return make_plan(self.id, snapshot, change, self.writes_for, reversible=self.reversible)
        except RecursionError:
            raise PlanError("the document is nested too deeply to plan a fix safely") from None

    def restore(self, snapshot: Snapshot, values: Mapping[str, Any]) -> list[Write]:
        """Writes that give ``values`` to their paths on the current ``snapshot`` (rollback)."""
        return self.writes_for(snapshot, values)

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "fixes": list(self.fixes),
            "resource_types": list(self.resource_types),
            "writes": list(self.writes),
            "reversible": self.reversible,
            "disruptive": self.disruptive,
            "rbac_actions": list(self.rbac_actions),
            "default_mode": self.default_mode,
            "phi_only": self.phi_only,
            "description": self.description,
        }


_REGISTERED: list[Remediation] = []


def remediation(
    *,
    id: str,
    title: str,
    fixes: Iterable[str],
    resource_types: Iterable[str],
    writes: Iterable[str],
    reversible: bool,
    disruptive: str,
    rbac_actions: Iterable[str],
    default_mode: Mode,
    writes_for: WritesFunc,
    phi_only: bool = True,
) -> Callable[[DecideFunc], DecideFunc]:
    """Registers a remediation; the decorated decide function's name must equal ``id``."""

    def decorate(func: DecideFunc) -> DecideFunc:
        _REGISTERED.append(
            Remediation(
                id=id,
                title=title,
                fixes=tuple(fixes),
                resource_types=tuple(t.lower() for t in resource_types),
                writes=tuple(writes),
                reversible=reversible,
                disruptive=disruptive,
                rbac_actions=tuple(rbac_actions),
                default_mode=default_mode,
                phi_only=phi_only,
                service=func.__module__.rsplit(".", 1)[-1],
                decide=func,
                writes_for=writes_for,
            )
        )
        return func

    return decorate


def registered() -> list[Remediation]:
    return list(_REGISTERED)


def _problems(item: Remediation, catalog: Mapping[str, Check], seen: set[str]) -> list[str]:
    problems: list[str] = []
    if item.id in seen:
        problems.append("duplicate id")
    if item.id != item.decide.__name__:
        problems.append(f"id differs from the function name {item.decide.__name__!r}")
    if not _ID_RE.match(item.id):
        problems.append("id is not snake_case")
    if item.service not in SERVICES or not item.id.startswith(item.service + "_"):
        problems.append(f"id must start with its module's service name ({item.service}_)")
    if not item.title or len(item.title) > 150 or item.title.endswith("."):
        problems.append("title must be 1-150 characters, no period")
    if not item.fixes:
        problems.append("fixes no check")
    fixed_types: set[str] = set()
    for check_id in item.fixes:
        check = catalog.get(check_id)
        if check is None:
            problems.append(f"fixes unknown check {check_id!r}")
            continue
        fixed_types.update(check.resource_types)
        if check.remediation != item.id:
            problems.append(f"check {check_id!r} names remediation {check.remediation!r}")
    if not item.resource_types:
        problems.append("no resource types")
    for rtype in item.resource_types:
        if not _TYPE_RE.match(rtype):
            problems.append(f"resource type {rtype!r} is not a lowercase ARM type")
        elif fixed_types and rtype not in fixed_types:
            problems.append(f"unknown resource type {rtype!r}: no check it fixes covers it")
    if not item.writes:
        problems.append("declares no JSON paths it writes")
    for pattern in item.writes:
        try:
            parse_path(pattern)
        except ValueError as exc:
            problems.append(f"bad declared path: {exc}")
    if item.default_mode not in MODES:
        problems.append(f"default_mode {item.default_mode!r} is not one of {', '.join(MODES)}")
    if not item.disruptive.strip():
        problems.append("does not say what it may disrupt")
    if not item.rbac_actions:
        problems.append("declares no RBAC actions")
    problems += [f"bad RBAC action {a!r}" for a in item.rbac_actions if not _ACTION_RE.match(a)]
    if not (item.decide.__doc__ or "").strip():
        problems.append("no docstring saying what it changes and why it is safe")
    return problems


def validate(items: Iterable[Remediation], catalog: Mapping[str, Check]) -> dict[str, Remediation]:
    """The registry keyed by id; raises RegistryError listing every broken rule, including
    checks that name a remediation that does not exist or does not say it fixes them."""
    registry: dict[str, Remediation] = {}
    errors: list[str] = []
    for item in items:
        errors += [f"{item.id}: {p}" for p in _problems(item, catalog, set(registry))]
        registry.setdefault(item.id, item)
    for check in catalog.values():
        if check.remediation is None:
            continue
        named = registry.get(check.remediation)
        if named is None:
            errors.append(f"check {check.id}: names unknown remediation {check.remediation!r}")
        elif check.id not in named.fixes:
            errors.append(f"check {check.id}: {named.id} does not list it in fixes")
    if errors:
        raise RegistryError("invalid remediation registry:\n  " + "\n  ".join(errors))
    return registry


# --- helpers for remediation modules ----------------------------------------------------------


def check_statuses(check_ids: Iterable[str], snapshot: Snapshot) -> dict[str, Status]:
    """Statuses of the given checks on a snapshot, as the engine would give them (checks whose
    related documents are missing, or PHI-only checks on non-PHI resources, are left out)."""
    from checks import CATALOG
    from shared.kernel.phi_scope import PhiScope

    phi = snapshot.phi if snapshot.phi is not None else PhiScope().is_phi(snapshot)
    rtype = snapshot.type
    out: dict[str, Status] = {}
    for check_id in check_ids:
        item = CATALOG[check_id]
        if rtype not in item.resource_types or (item.phi_only and not phi):
            continue
        if any(not snapshot.has(n) for n in item.needs):
            continue
        out[check_id] = item.run(snapshot).status
    return out


def is_phi(snapshot: Snapshot) -> bool:
    """The snapshot's PHI scope: as resolved by the caller, else the default tag rules."""
    from shared.kernel.phi_scope import PhiScope

    return snapshot.phi if snapshot.phi is not None else PhiScope().is_phi(snapshot)
