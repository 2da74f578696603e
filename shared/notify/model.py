"""What people are told about, as data: the notices the Teams cards and the emails render.

A notice carries only what may leave the tenant: the resource's metadata (id, name, type,
subscription, resource group, PHI flag), the owner (an email address taken from the owner tag,
only when allowed by the routing), the check (id, title, severity, HIPAA sections) and, for a
fix, the properties it changed (before → after) and its rollback command. Never other tag values
and never the evidence a check looked at: the builders drop them, and keep them aside in
``sensitive`` so the guard (``shared.notify.guard``) can prove no rendered payload carries one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.kernel.findings import Finding, Severity, Status
from shared.kernel.resource_id import ResourceIdError, normalize, parse
from shared.outbox.model import Channel, Kind, OutboxItem

if TYPE_CHECKING:
    from shared.remediation_log import RemediationRecord

_SCOPE = re.compile(r"(?i)^/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?")
NOTIFY_SEVERITIES = frozenset({Severity.CRITICAL, Severity.HIGH})
MAX_DIFF_LINES = 20
MAX_VALUE_CHARS = 200
# Values too common to be told apart from ordinary words (a tag "hipaa=true"): not searched for.
_INERT_VALUES = frozenset({"true", "false", "none", "null", "yes", "phi", "ephi", "hipaa"})
_MIN_SENSITIVE_CHARS = 4


@dataclass(frozen=True)
class ResourceRef:
    """A resource as a notice shows it: metadata only."""

    resource_id: str
    name: str
    type: str
    subscription_id: str
    resource_group: str
    phi: bool
    owner: str = ""  # an email address from the owner tag (see ``Routing.owner_of``)

    @classmethod
    def of(
        cls, resource_id: str, resource_type: str = "", *, phi: bool, owner: str = ""
    ) -> ResourceRef:
        try:
            rid = parse(resource_id)
            name, sub, group, rtype = (
                rid.name,
                rid.subscription or "",
                rid.resource_group or "",
                rid.type,
            )
        except ResourceIdError:  # still told, with what the id shows
            scope = _SCOPE.match(resource_id)
            sub = scope.group(1) if scope else ""
            group = (scope.group(2) or "") if scope else ""
            name, rtype = resource_id.rstrip("/").rsplit("/", 1)[-1], ""
        return cls(resource_id, name, resource_type or rtype, sub, group, phi, owner)

    def metadata(self) -> set[str]:
        return {self.resource_id, self.name, self.type, self.subscription_id, self.resource_group}

    @property
    def portal_url(self) -> str:
        return f"https://portal.azure.com/#resource{self.resource_id}"


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _flatten(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def sensitive_values(
    *sources: Any,
    tags: Mapping[str, Any] | None = None,
    keep_tag: str = "",
    metadata: Iterable[str] = (),
) -> frozenset[str]:
    """The strings a payload must not carry: every tag value but ``keep_tag``'s (the owner tag)
    and every value in ``sources`` (evidence), less values too short or common to search for
    and values found within ``metadata`` (the resource's id, name, type, group and
    subscription, and phiguard's own texts: the check's title and id, the HIPAA sections): a
    payload shows those anyway, and the guard would otherwise refuse every payload for a tag
    such as ``service=storage``."""
    values: set[str] = set()
    for key, value in (tags or {}).items():
        if str(key).casefold() != keep_tag.casefold():
            values.update(_flatten(value))
    for source in sources:
        values.update(_flatten(source))
    known = [m.casefold() for m in metadata if m]
    return frozenset(
        v
        for v in (s.strip() for s in values)
        if len(v) >= _MIN_SENSITIVE_CHARS
        and v.casefold() not in _INERT_VALUES
        and not any(v.casefold() in k for k in known)
    )


@dataclass(frozen=True)
class NewFailure:
    """A CRITICAL or HIGH check newly failing on a PHI resource."""

    resource: ResourceRef
    check_id: str
    title: str
    severity: Severity
    hipaa: tuple[str, ...]
    detected_at: datetime
    sensitive: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    kind = Kind.NEW_FAILURE

    @property
    def key(self) -> str:
        return f"{self.kind}:{normalize(self.resource.resource_id)}:{self.check_id}:{_iso(self.detected_at)}"


@dataclass(frozen=True)
class DiffLine:
    path: str
    before: str
    after: str


@dataclass(frozen=True)
class FixApplied:
    """A remediation wrote a fix: what it changed and how to undo it."""

    resource: ResourceRef
    record_id: str
    remediation_id: str
    check_ids: tuple[str, ...]
    status: str
    summary: str
    diff: tuple[DiffLine, ...]
    at: datetime
    sensitive: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    kind = Kind.FIX_APPLIED

    @property
    def rollback_command(self) -> str:
        return f"phiguard rollback {self.record_id}"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.record_id}"


@dataclass(frozen=True)
class Escalation:
    """A fix held back on purpose (flapping, the hourly cap) or a failure with no safe fix: a
    person must act."""

    resource: ResourceRef
    record_id: str
    remediation_id: str
    check_ids: tuple[str, ...]
    status: str
    reason: str
    at: datetime
    sensitive: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    kind = Kind.ESCALATION

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.record_id}"


@dataclass(frozen=True)
class Digest:
    """The period's summary: open failures by severity, what is new, what was fixed."""

    period_start: datetime
    period_end: datetime
    open_by_severity: Mapping[Severity, int]
    new_failures: tuple[NewFailure, ...] = ()
    fixes: int = 0
    escalations: int = 0
    more_new_failures: int = 0  # beyond the ones listed
    kind = Kind.DIGEST

    @property
    def sensitive(self) -> frozenset[str]:
        return frozenset().union(*(f.sensitive for f in self.new_failures))

    @property
    def key(self) -> str:
        return f"{self.kind}:{_iso(self.period_start)}:{_iso(self.period_end)}"


@dataclass(frozen=True)
class AccessReviewReady:
    """The week's access review is written: its counts and where the report is. The report
    itself is not sent: it names every person who can reach PHI, and it stays where its access
    control and retention are (Blob Storage, ``access-reviews/YYYY-Www/``)."""

    week: str
    counts: Mapping[str, int]
    missing_permissions: tuple[str, ...]
    location: str
    at: datetime
    kind = Kind.ACCESS_REVIEW

    @property
    def sensitive(self) -> frozenset[str]:
        return frozenset()

    @property
    def key(self) -> str:
        # One announcement per week and run: a rerun of the week replaces the report and says so.
        return f"{self.kind}:{self.week}:{_iso(self.at)}"


def access_review_ready(announcement: Mapping[str, Any], at: datetime) -> AccessReviewReady:
    """The notice of ``shared.access.engine.announcement``'s summary."""
    counts = announcement.get("counts") or {}
    return AccessReviewReady(
        str(announcement.get("week", "")),
        {str(k): int(v) for k, v in counts.items() if isinstance(v, int)},
        tuple(str(p) for p in announcement.get("missing_permissions") or ()),
        str(announcement.get("link") or ""),
        at,
    )


@dataclass(frozen=True)
class TestMessage:
    """A message that proves a channel works (``phiguard notify test``): no resource, no PHI."""

    __test__ = False  # not a pytest test class

    at: datetime
    note: str = ""
    kind = Kind.TEST

    @property
    def sensitive(self) -> frozenset[str]:
        return frozenset()

    @property
    def key(self) -> str:
        return f"{self.kind}:{_iso(self.at)}"


Notice = NewFailure | FixApplied | Escalation | Digest | TestMessage | AccessReviewReady


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def should_notify(finding: Finding) -> bool:
    """A new failure is told when it is CRITICAL or HIGH on a PHI resource."""
    return finding.status is Status.FAIL and finding.phi and finding.severity in NOTIFY_SEVERITIES


def new_failure(
    finding: Finding,
    *,
    detected_at: datetime,
    tags: Mapping[str, Any] | None = None,
    owner: str = "",
    owner_tag: str = "",
) -> NewFailure:
    ref = ResourceRef.of(finding.resource_id, finding.resource_type, phi=finding.phi, owner=owner)
    return NewFailure(
        ref,
        finding.check_id,
        finding.title,
        finding.severity,
        tuple(finding.hipaa),
        detected_at,
        sensitive_values(
            finding.evidence,
            tags=tags,
            keep_tag=owner_tag,
            metadata=[*ref.metadata(), finding.check_id, finding.title, *finding.hipaa],
        ),
    )


def _diff(record: RemediationRecord) -> tuple[DiffLine, ...]:
    paths = list(dict.fromkeys([*record.before, *record.after]))
    lines = []
    for path in paths:
        if path == "tags" or path.startswith(("tags.", "tags[")):
            continue  # tag values never leave
        lines.append(
            DiffLine(path, _value(record.before.get(path)), _value(record.after.get(path)))
        )
    return tuple(lines[:MAX_DIFF_LINES])


def _record_context(
    record: RemediationRecord,
    phi: bool,
    resource_type: str,
    tags: Mapping[str, Any] | None,
    owner: str,
    owner_tag: str,
) -> tuple[ResourceRef, frozenset[str]]:
    """The resource of a remediation record, and the values its notice must never carry (tag
    values but the owner's; the record's own ids are metadata, not sensitive)."""
    ref = ResourceRef.of(record.resource_id, resource_type, phi=phi, owner=owner)
    return ref, sensitive_values(
        tags=tags,
        keep_tag=owner_tag,
        metadata=[*ref.metadata(), record.remediation_id, *record.check_ids],
    )


def fix_applied(
    record: RemediationRecord,
    *,
    phi: bool,
    resource_type: str = "",
    tags: Mapping[str, Any] | None = None,
    owner: str = "",
    owner_tag: str = "",
) -> FixApplied:
    ref, sensitive = _record_context(record, phi, resource_type, tags, owner, owner_tag)
    return FixApplied(
        ref,
        record.id,
        record.remediation_id,
        tuple(record.check_ids),
        str(record.status),
        record.summary,
        _diff(record),
        record.updated_at,
        sensitive,
    )


def escalation(
    record: RemediationRecord,
    *,
    phi: bool,
    resource_type: str = "",
    tags: Mapping[str, Any] | None = None,
    owner: str = "",
    owner_tag: str = "",
) -> Escalation:
    ref, sensitive = _record_context(record, phi, resource_type, tags, owner, owner_tag)
    return Escalation(
        ref,
        record.id,
        record.remediation_id,
        tuple(record.check_ids),
        str(record.status),
        record.reason,
        record.updated_at,
        sensitive,
    )


def digest(
    period_start: datetime,
    period_end: datetime,
    open_findings: Iterable[Any],
    new_failures: Iterable[NewFailure] = (),
    *,
    fixes: int = 0,
    escalations: int = 0,
    listed: int = 10,
) -> Digest:
    """The period's digest: ``open_findings`` (anything with ``status`` and ``severity``: a
    finding or a stored row) counted by severity where failing, the new failures (the most
    severe first, ``listed`` of them named, the rest counted)."""
    counts: dict[Severity, int] = {}
    for found in open_findings:
        if Status(found.status) is Status.FAIL:
            severity = Severity(found.severity)
            counts[severity] = counts.get(severity, 0) + 1
    ordered = sorted(new_failures, key=lambda f: (f.severity.rank, f.detected_at))
    return Digest(
        period_start,
        period_end,
        counts,
        tuple(ordered[:listed]),
        fixes=fixes,
        escalations=escalations,
        more_new_failures=max(len(ordered) - listed, 0),
    )


class Notifier(Protocol):
    """One channel people hear on. ``render`` turns a notice into the outbox payload (guarded:
    nothing in it but what a notice may carry); ``send`` delivers an outbox item (it is a
    :class:`~shared.outbox.model.Sender`)."""

    channel: Channel

    def render(self, notice: Notice) -> dict[str, Any]: ...

    def send(self, item: OutboxItem) -> str: ...


def outbox_item(notifier: Notifier, notice: Notice, now: datetime | None = None) -> OutboxItem:
    """The outbox item for ``notice`` on ``notifier``'s channel, keyed by the notice."""
    from shared.outbox.model import new_item

    return new_item(notice.key, notifier.channel, notice.kind, notifier.render(notice), now=now)
