"""The evaluation engine: Snapshot in, findings out. Functions, CLI and tests all drive this."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks import CATALOG, Check
from shared.kernel.findings import Finding, Result, not_assessed
from shared.kernel.phi_scope import PhiScope
from shared.kernel.resource_id import ResourceIdError
from shared.kernel.snapshot import MalformedResource, Snapshot

if TYPE_CHECKING:
    from shared.mutes import MuteRule
    from shared.selection import Selection


@dataclass(frozen=True)
class NotAssessed:
    check_id: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """The verdicts for one resource.

    ``findings`` holds one finding per applicable check. A check that could not judge is a
    ``NOT_ASSESSED`` finding naming what it lacked: the related documents the snapshot does not
    have (also listed in ``not_assessed``), or what the check itself found absent. It is never
    counted as PASS.
    """

    resource_id: str
    resource_type: str
    phi: bool
    findings: tuple[Finding, ...]
    not_assessed: tuple[NotAssessed, ...] = ()
    # The check ids the engine ran when a selection narrowed the catalog (None: all of it): the
    # store leaves the rows of other checks as they are instead of closing them.
    scope: frozenset[str] | None = None
    # The selection left out checks the deployment runs (a narrower ``scan``): the record must
    # not vouch for a full read of the resource (its marker's ``last_read_at`` stays), or an
    # event older than this read, which an unselected check would judge, is coalesced away.
    partial: bool = False


@dataclass
class Engine:
    catalog: Mapping[str, Check] = field(default_factory=lambda: CATALOG)
    phi_scope: PhiScope = field(default_factory=PhiScope)
    scope: frozenset[str] | None = None  # set by :meth:`selected` when a selection narrows
    partial: bool = False  # runs fewer checks than the deployment's (see Evaluation.partial)
    # The mute rules in force (shared.mutes), asked at every evaluation; None: nothing muted.
    mutes: Callable[[], Sequence[MuteRule]] | None = field(default=None, repr=False)
    mute_max_days: int = 180
    _by_type: dict[tuple[str, bool], tuple[Check, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def selected(
        cls,
        selection: Selection,
        phi_scope: PhiScope | None = None,
        catalog: Mapping[str, Check] | None = None,
    ) -> Engine:
        """An engine running only the selected checks (SelectionError names unknown ids or
        services, or a selection that matches no check)."""
        from shared.selection import SelectionError

        full = CATALOG if catalog is None else catalog
        scope = phi_scope or PhiScope()
        if selection.everything:
            return cls(catalog=full, phi_scope=scope)
        chosen = selection.apply(full)
        if not chosen:
            raise SelectionError("the selection matches no check")
        return cls(catalog=chosen, phi_scope=scope, scope=frozenset(chosen))

    def checks_for(self, resource_type: str, phi: bool) -> tuple[Check, ...]:
        """Checks that apply to a resource type; ``phi_only`` ones only to PHI resources."""
        cache_key = (resource_type.lower(), phi)
        found = self._by_type.get(cache_key)
        if found is None:
            found = tuple(
                c
                for c in self.catalog.values()
                if cache_key[0] in c.resource_types and (phi or not c.phi_only)
            )
            self._by_type[cache_key] = found
        return found

    def needs_for(self, resource_type: str, phi: bool) -> set[str]:
        """The related documents the reader must fetch for this resource, and nothing else."""
        return {n for c in self.checks_for(resource_type, phi) for n in c.needs}

    def supported_types(self) -> set[str]:
        return {t for c in self.catalog.values() for t in c.resource_types}

    def evaluate(self, snapshot: Snapshot) -> Evaluation:
        phi = self.phi_scope.is_phi(snapshot)
        try:
            rtype = snapshot.type
        except ResourceIdError as exc:
            raise MalformedResource(f"$.type: {exc}") from None
        findings: list[Finding] = []
        skipped: list[NotAssessed] = []
        for item in self.checks_for(rtype, phi):
            missing = tuple(n for n in item.needs if not snapshot.has(n))
            if missing:
                skipped.append(NotAssessed(item.id, missing))
                result = not_assessed(
                    f"Not assessed: the related document(s) {', '.join(missing)} could not be "
                    "read, so this check could not judge.",
                    {"missing": list(missing)},
                )
            else:
                result = item.run(snapshot)
            findings.append(
                Finding(
                    resource_id=snapshot.id,
                    resource_type=rtype,
                    check_id=item.id,
                    status=result.status,
                    severity=item.severity,
                    hipaa=item.hipaa,
                    title=item.title,
                    reason=result.reason,
                    evidence=result.evidence,
                    phi=phi,
                )
            )
        if self.mutes is not None:
            rules = self.mutes()
            if rules:
                from shared.kernel.clock import utcnow
                from shared.mutes import apply_mutes

                findings = apply_mutes(findings, rules, utcnow(), self.mute_max_days)
        return Evaluation(
            snapshot.id,
            rtype,
            phi,
            tuple(findings),
            tuple(skipped),
            scope=self.scope,
            partial=self.partial,
        )

    def evaluate_all(self, snapshots: Iterable[Snapshot]) -> list[Evaluation]:
        return [self.evaluate(s) for s in snapshots]


def run_check(item: Check, snapshot: Snapshot) -> Result:
    """Runs one check (see :meth:`checks.registry.Check.run`)."""
    return item.run(snapshot)
