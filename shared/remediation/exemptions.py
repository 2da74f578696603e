"""Exemptions from a fix: the ``phiguard-exempt`` tag, and the policy that decides whether an
exemption (tag or table entry) is honoured.

An exemption stops the fix, never the finding. A tag is written by whoever can tag the resource,
so parsing it never raises anything but :class:`ExemptionError`, whatever the value; an exemption
too far ahead (``PHIGUARD_EXEMPTION_MAX_DAYS``), without an expiry or, for tags, approved by
someone outside ``PHIGUARD_EXEMPTION_APPROVERS`` is not honoured, and the record says why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from shared.kernel.errors import PhiguardError
from shared.kernel.snapshot import Snapshot
from shared.remediation_log import Exemption

EXEMPT_TAG = "phiguard-exempt"

_MAX_TAG_CHARS = 512  # an Azure tag value holds at most 256 characters
_MAX_FIELD_CHARS = 256
_MAX_TARGETS = 20
_TARGET = re.compile(r"[a-z][a-z0-9_]{0,99}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ExemptionError(PhiguardError, ValueError):
    """A ``phiguard-exempt`` tag that is not honoured; the message says why."""


def expiry_of(until: str, label: str = "until=") -> datetime:
    """The end (UTC) of the ``YYYY-MM-DD`` day an exemption holds to, for tags and the CLI
    alike. Raises ExemptionError naming the value: not that shape, not a date, or a day whose
    end no datetime holds (9999-12-31)."""
    if not _ISO_DATE.fullmatch(until):
        raise ExemptionError(f"{label}{_shown(until)} is not YYYY-MM-DD")
    try:
        day = date.fromisoformat(until)
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    except (ValueError, OverflowError):
        raise ExemptionError(f"{label}{_shown(until)} is not a date phiguard can honour") from None


def parse_exempt_tag(value: object, resource_id: str) -> list[Exemption]:
    """``<id>[,<id>...];until=YYYY-MM-DD;approver=<who>;reason=<why>`` → exemptions ending at
    the end of the ``until`` day (UTC).

    Raises :class:`ExemptionError` (a ValueError) naming what is missing or wrong, for any
    input: a tag is written by whoever can tag the resource, so no value may raise anything
    else (a date whose next day does not exist, a huge or binary value, a duplicated field).
    """
    if not isinstance(value, str):
        raise ExemptionError(f"the value is {type(value).__name__}, not text")
    if len(value) > _MAX_TAG_CHARS:
        raise ExemptionError(f"the value is {len(value)} characters, more than a tag holds")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        raise ExemptionError("the value holds control, format or unassigned characters")
    parts = [p.strip() for p in value.split(";")]
    targets = [t.strip().lower() for t in parts[0].split(",") if t.strip()]
    if not targets:
        raise ExemptionError("no remediation or check id before the first ';'")
    if len(targets) > _MAX_TARGETS:
        raise ExemptionError(f"{len(targets)} ids; at most {_MAX_TARGETS}")
    bad = [t for t in targets if not _TARGET.fullmatch(t)]
    if bad:
        raise ExemptionError(f"{_shown(bad[0])} is not a remediation or check id")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, text = part.partition("=")
        name = key.strip().lower()
        if not sep:
            continue
        if name in fields:
            raise ExemptionError(f"{_shown(name)} is given twice")
        if len(text.strip()) > _MAX_FIELD_CHARS:
            raise ExemptionError(f"{name} is longer than {_MAX_FIELD_CHARS} characters")
        fields[name] = text.strip()
    missing = [k for k in ("until", "approver", "reason") if not fields.get(k)]
    if missing:
        raise ExemptionError(f"missing {', '.join(missing)}")
    expires = expiry_of(fields["until"], "until=")
    return [
        Exemption(
            resource_id=resource_id,
            target=t,
            justification=fields["reason"],
            approver=fields["approver"],
            expires_at=expires,
            source="tag",
        )
        for t in targets
    ]


def exemption_refusal(
    exemption: Exemption, now: datetime, max_days: int, approvers: tuple[str, ...]
) -> str | None:
    """Why the exemption policy does not honour ``exemption``, or None when it does."""
    if exemption.expires_at is None:
        return "it has no expiry"
    try:
        too_far = exemption.expires_at - now > timedelta(days=max_days, hours=24)
    except (OverflowError, TypeError):
        too_far = True
    if too_far:
        return (
            f"it runs to {exemption.expires_at.date().isoformat()}, more than "
            f"PHIGUARD_EXEMPTION_MAX_DAYS={max_days} days ahead"
        )
    if exemption.source == "tag" and approvers and exemption.approver.lower() not in approvers:
        return (
            f"its approver {_shown(exemption.approver)} is not one of PHIGUARD_EXEMPTION_APPROVERS"
        )
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")


def applicable_exemption(
    targets: Iterable[str],
    snapshot: Snapshot,
    stored: Iterable[Exemption],
    now: datetime,
    *,
    max_days: int,
    approvers: tuple[str, ...],
) -> tuple[Exemption | None, str]:
    """The exemption that stops a fix now: from the snapshot's ``phiguard-exempt`` tag, then from
    ``stored`` (the exemptions table), the first honoured and active one whose target is one of
    ``targets`` (lowercase remediation and check ids). Else None, with notes for the record on
    the exemptions that are not honoured or have expired (a tag that cannot be read or parsed
    included: never fatal)."""
    wanted = set(targets)
    candidates: list[Exemption] = []
    notes: list[str] = []
    try:
        tag = next((v for k, v in snapshot.tags.items() if str(k).lower() == EXEMPT_TAG), None)
    except Exception as exc:  # tags that are not an object: not honoured, never fatal
        tag = None
        notes.append(f"The tags could not be read ({type(exc).__name__}); no tag exemption.")
    if tag is not None:
        try:
            candidates += parse_exempt_tag(tag, snapshot.id)
        except Exception as exc:  # ExemptionError; anything else must not stop the rest
            reason = str(exc) if isinstance(exc, ExemptionError) else type(exc).__name__
            notes.append(f"The {EXEMPT_TAG} tag is not honoured: {reason}.")
    candidates += stored
    for exemption in candidates:
        if exemption.target.lower() not in wanted:
            continue
        refusal = exemption_refusal(exemption, now, max_days, approvers)
        if refusal is not None:
            notes.append(
                f"The exemption of {exemption.target} ({exemption.source}) is not "
                f"honoured: {refusal}."
            )
            continue
        if exemption.active(now):
            return exemption, ""
        until = exemption.expires_at.date().isoformat() if exemption.expires_at else "?"
        notes.append(
            f"The exemption of {exemption.target} ({exemption.source}, approved by "
            f"{exemption.approver}) expired {until} and no longer applies."
        )
    return None, " ".join(notes)
