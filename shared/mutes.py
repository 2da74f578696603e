"""Muted findings: accepted risks, approved and time-boxed.

A mute rule names a check (or ``*``), a resource (its id, or a pattern with ``*`` / ``?``), the
reason, who approved it, when it ends (at most ``PHIGUARD_MUTE_MAX_DAYS`` after it was made) and
who added it (the operator). While a rule holds, a FAIL it covers is recorded as ``MUTED``: the
finding keeps its reason and evidence, and the evidence names the rule (``muted_by``), so the
state store, ``status`` and every report still show it; a muted failure sets no exit code 1,
starts no fix, opens no issue and sends no notice (an open issue closes as not planned).
A rule that has ended stops applying: the finding is a FAIL again and its evidence says which
mute expired (``mute_expired``). Only FAILs are muted: a check that could not judge
(ERROR, NOT_ASSESSED) stays what it is.

Table ``<prefix>mutes``: PartitionKey ``mute``, RowKey the rule id (``mute-<8 hex>``);
``check``, ``resource``, ``reason``, ``approver``, ``expires_at``, ``created_at``,
``created_by``.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.kernel.errors import PhiguardError
from shared.kernel.findings import Finding, Status
from shared.tables import TablesBacked

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

_PARTITION = "mute"
_RULE_ID = re.compile(r"mute-[0-9a-f]{8}")
_PATTERN_CHARS = re.compile(r"[A-Za-z0-9/._()\-*?]+")
_CACHE_SECONDS = 60.0
DEFAULT_MAX_DAYS = 180


class MuteError(PhiguardError, ValueError):
    """A mute rule is malformed or refused; the message names the field."""


@dataclass(frozen=True)
class MuteRule:
    id: str
    check: str  # a check id, or "*"
    resource: str  # a resource id, or a pattern with * and ?; case-insensitive
    reason: str
    approver: str
    expires_at: datetime
    created_at: datetime
    created_by: str

    def covers(self, check_id: str, resource_id: str) -> bool:
        if self.check != "*" and self.check != check_id:
            return False
        pattern = self.resource.lower()
        target = resource_id.lower().rstrip("/")
        if "*" in pattern or "?" in pattern:
            return fnmatch.fnmatchcase(target, pattern)
        return target == pattern.rstrip("/")

    def holds(self, now: datetime, max_days: int) -> bool:
        """Unexpired, and no longer than ``max_days`` from when it was made (a rule written to
        the table by other means than ``phiguard mute add`` is held to the same limit)."""
        return now < self.expires_at and self.expires_at - self.created_at <= timedelta(
            days=max_days, hours=24
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check": self.check,
            "resource": self.resource,
            "reason": self.reason,
            "approver": self.approver,
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text_problem(value: str, limit: int) -> str | None:
    if not value.strip():
        return "is empty"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        return "holds control or format characters"
    return None


def new_rule(
    *,
    check: str,
    resource: str,
    reason: str,
    approver: str,
    expires_at: datetime,
    created_by: str,
    known_checks: Iterable[str],
    now: datetime,
    max_days: int,
) -> MuteRule:
    """A validated rule; :class:`MuteError` names the field that is wrong."""
    check = check.strip()
    if check != "*" and check not in set(known_checks):
        raise MuteError(f"--check: {check!r} is not a check id (`phiguard catalog` lists them)")
    resource = resource.strip()
    if not resource.lower().startswith("/subscriptions/"):
        raise MuteError(
            "--resource: must be a resource id or a pattern starting /subscriptions/ "
            "(e.g. /subscriptions/*/resourceGroups/rg-dev/*)"
        )
    if len(resource) > 1024 or not _PATTERN_CHARS.fullmatch(resource):
        raise MuteError(
            "--resource: only letters, digits, / . _ ( ) - and the wildcards * ? are allowed "
            "(at most 1,024 characters)"
        )
    if "/../" in resource + "/" or "/./" in resource + "/" or "//" in resource:
        raise MuteError("--resource: no empty, '.' or '..' segments")
    if check == "*" and resource.strip("/*?").lower() in ("subscriptions", ""):
        raise MuteError("a rule must name a check or narrow the resources: this mutes everything")
    for flag, value, limit in (("--reason", reason, 1000), ("--approver", approver, 256)):
        problem = _text_problem(value, limit)
        if problem is not None:
            raise MuteError(f"{flag} {problem}")
    if expires_at <= now:
        raise MuteError("--until is in the past")
    if expires_at - now > timedelta(days=max_days, hours=24):
        raise MuteError(
            f"--until is more than {max_days} days ahead (PHIGUARD_MUTE_MAX_DAYS); "
            "accepted risks are reviewed, not forgotten"
        )
    return MuteRule(
        id=f"mute-{secrets.token_hex(4)}",
        check=check,
        resource=resource,
        reason=reason.strip(),
        approver=approver.strip(),
        expires_at=expires_at,
        created_at=now,
        created_by=created_by,
    )


def apply_mutes(
    findings: Sequence[Finding], rules: Sequence[MuteRule], now: datetime, max_days: int
) -> list[Finding]:
    """The findings with every FAIL covered by a holding rule turned MUTED (its evidence naming
    the rule), and every FAIL covered only by rules that no longer hold saying so."""
    if not rules:
        return list(findings)
    out: list[Finding] = []
    for finding in findings:
        if finding.status != Status.FAIL:
            out.append(finding)
            continue
        covering = sorted(
            (r for r in rules if r.covers(finding.check_id, finding.resource_id)),
            key=lambda r: r.id,
        )
        holding = [r for r in covering if r.holds(now, max_days)]
        if holding:
            rule = holding[0]
            until = rule.expires_at.astimezone(UTC).date().isoformat()
            out.append(
                replace(
                    finding,
                    status=Status.MUTED,
                    reason=f"Muted by {rule.id} until {until}: {finding.reason}",
                    evidence={
                        **finding.evidence,
                        "muted_by": {
                            "rule": rule.id,
                            "until": until,
                            "approver": rule.approver,
                            "reason": rule.reason,
                        },
                    },
                )
            )
        elif covering:
            rule = covering[0]
            ended = rule.expires_at.astimezone(UTC).date().isoformat()
            out.append(
                replace(
                    finding,
                    reason=f"{finding.reason} (Mute {rule.id} no longer applies: it ended "
                    f"{ended} or exceeded PHIGUARD_MUTE_MAX_DAYS.)",
                    evidence={
                        **finding.evidence,
                        "mute_expired": {"rule": rule.id, "expires_at": _iso(rule.expires_at)},
                    },
                )
            )
        else:
            out.append(finding)
    return out


def muted_by(evidence: object) -> str | None:
    """The id of the rule a stored finding's evidence says muted it."""
    if isinstance(evidence, dict):
        found = evidence.get("muted_by")
        if isinstance(found, dict) and isinstance(found.get("rule"), str):
            return str(found["rule"])
    return None


class TableMutes(TablesBacked):
    """The mute rules in Azure Table Storage, with a short cache for the event path."""

    def __init__(
        self,
        service: TableServiceClient,
        prefix: str = "phiguard",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.service = service
        self.table = f"{prefix}mutes"
        self._client = service.get_table_client(self.table)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[MuteRule, ...]] | None = None

    def ensure_tables(self) -> None:
        self.service.create_table_if_not_exists(self.table)

    def add(self, rule: MuteRule) -> None:
        self._client.create_entity(
            {
                "PartitionKey": _PARTITION,
                "RowKey": rule.id,
                "check": rule.check,
                "resource": rule.resource,
                "reason": rule.reason,
                "approver": rule.approver,
                "expires_at": rule.expires_at.astimezone(UTC),
                "created_at": rule.created_at.astimezone(UTC),
                "created_by": rule.created_by,
            }
        )
        self._cached = None

    def remove(self, rule_id: str) -> bool:
        """Removes a rule; False when there is none with that id."""
        from azure.core.exceptions import ResourceNotFoundError

        if not _RULE_ID.fullmatch(rule_id):
            return False
        try:
            self._client.get_entity(_PARTITION, rule_id)
        except ResourceNotFoundError:
            return False
        self._client.delete_entity(_PARTITION, rule_id)
        self._cached = None
        return True

    def rules(self) -> list[MuteRule]:
        """Every rule, expired ones too, by id; rows that do not parse are skipped."""
        out: list[MuteRule] = []
        for row in self._client.query_entities(
            "PartitionKey eq @pk", parameters={"pk": _PARTITION}
        ):
            try:
                out.append(
                    MuteRule(
                        id=str(row["RowKey"]),
                        check=str(row["check"]),
                        resource=str(row["resource"]),
                        reason=str(row.get("reason", "")),
                        approver=str(row.get("approver", "")),
                        expires_at=_utc(row["expires_at"]),
                        created_at=_utc(row["created_at"]),
                        created_by=str(row.get("created_by", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        return sorted(out, key=lambda r: r.id)

    def cached_rules(self) -> tuple[MuteRule, ...]:
        """The rules, read at most once a minute (every evaluation of the event path asks)."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > _CACHE_SECONDS:
                self._cached = (now, tuple(self.rules()))
            return self._cached[1]


def _utc(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise TypeError("not a datetime")
