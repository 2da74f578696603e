"""Pure layer, resource ids and tags: canonical ids keep their meaning and never hide a dot
segment; exemption tags raise only ValueError; PHI scope follows the documented tag rule for
any tags value."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from shared.events import affected_resource
from shared.kernel.phi_scope import PhiScope
from shared.kernel.resource_id import (
    ResourceIdError,
    canonical,
    normalize,
    parent,
    parse,
    resource_type_of,
)
from shared.kernel.snapshot import Snapshot
from shared.remediation import parse_exempt_tag
from shared.remediation_log import Exemption
from tests.adversarial import strategies as s
from tests.adversarial.profile import PURE

MOMENT = 1.0
_FORBIDDEN_CHARS = re.compile("[?#%\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@PURE
@given(rid=s.resource_ids)
@example(rid="/subscriptions/s/resourceGroups/rg/providers/A.B/t/x/%2e%2e/%2e%2e")
@example(rid="/subscriptions/s/resourceGroups/rg/providers/A.B/t/x/ .. /y")
@example(rid="/subscriptions/s/resourceGroups/\u3000/providers/A.B/t/x")
def test_canonical_ids_keep_their_segments_and_hide_nothing(rid: str) -> None:
    try:
        result, seconds = s.timed(lambda: canonical(rid))
    except ResourceIdError:
        return
    assert seconds < MOMENT
    assert canonical(result) == result
    assert result.startswith("/") and not result.endswith("/") and "//" not in result
    segments = result.split("/")[1:]
    # The same segments, in the same order: only whitespace around them and empty ones went.
    assert segments == [p.strip() for p in rid.split("/") if p.strip()]
    assert all(seg == seg.strip() and seg not in (".", "..") for seg in segments)
    assert _FORBIDDEN_CHARS.search(result) is None, ascii(result)
    result.encode("utf-8")
    assert normalize(result) == result.lower()
    parsed = parse(result)
    assert parsed.type == parsed.type.lower()

    try:
        affected = affected_resource(result)
    except ResourceIdError:
        return
    # The resource whose checks a change affects is in the same subscription, and is the id
    # itself or one of its ancestors (never a sibling or another tenant's resource).
    assert normalize(result).startswith(normalize(affected))
    try:
        affected_sub = parse(affected).subscription
    except ResourceIdError:
        return
    if affected_sub is not None:
        assert parsed.subscription is not None
        assert affected_sub.lower() == parsed.subscription.lower()


@PURE
@given(value=st.one_of(s.resource_ids, s.hostile_text))
def test_parse_and_parent_raise_nothing_but_resource_id_errors(value: str) -> None:
    with contextlib.suppress(ResourceIdError):
        parse(value)
    parent(value)
    try:
        resource_type_of({"id": value, "type": value})
        resource_type_of({"id": value})
    except ResourceIdError:
        pass


# --- exemption tags --------------------------------------------------------------------------

_TARGET = re.compile(r"[a-z][a-z0-9_]{0,99}")
_ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@PURE
@given(value=st.one_of(s.exempt_tag_values(), s.hostile_values), rid=s.resource_ids)
@example(
    value="network_nsg_restrict_internet_inbound;until=9999-12-31;approver=m@example.com;reason=x",
    rid="/subscriptions/s",
)
@example(
    value="network_nsg_restrict_internet_inbound;until=٢٠٢٦-٠١-٠١;approver=a;reason=b",
    rid="/subscriptions/s",
)
def test_an_exemption_tag_raises_only_value_errors(value: Any, rid: str) -> None:
    try:
        exemptions, seconds = s.timed(lambda: parse_exempt_tag(value, rid))
    except ValueError as exc:
        assert str(exc)
        return
    assert seconds < MOMENT
    assert isinstance(value, str) and exemptions
    for exemption in exemptions:
        _check_exemption(exemption, value)


def _check_exemption(exemption: Exemption, value: str) -> None:
    assert _TARGET.fullmatch(exemption.target), exemption.target
    for text in (exemption.approver, exemption.justification):
        assert text and text == text.strip() and len(text) <= 256
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text)
    assert exemption.expires_at is not None and exemption.expires_at.tzinfo is not None
    assert exemption.expires_at.utcoffset() == timedelta(0)
    assert exemption.expires_at.time() == datetime.min.time()
    # The documented form is YYYY-MM-DD (ASCII digits), and the exemption ends with that day.
    untils = [
        text.strip()
        for key, sep, text in (part.partition("=") for part in value.split(";")[1:])
        if sep and key.strip().lower() == "until"
    ]
    assert len(untils) == 1 and _ASCII_DATE.fullmatch(untils[0]), untils
    day = (exemption.expires_at - timedelta(days=1)).date().isoformat()
    assert day == untils[0]


@PURE
@given(
    value=s.exempt_tag_values(),
    max_days=st.integers(min_value=0, max_value=10**6),
    approvers=st.sampled_from(((), ("ciso@example.com",), ("",))),
    now=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ),
)
def test_the_exemption_policy_never_raises(
    value: Any, max_days: int, approvers: tuple[str, ...], now: datetime
) -> None:
    from shared.remediation import exemption_refusal

    try:
        exemptions = parse_exempt_tag(value, "/subscriptions/s")
    except ValueError:
        return
    for exemption in exemptions:
        refusal = exemption_refusal(exemption, now, max_days, approvers)
        assert refusal is None or (isinstance(refusal, str) and refusal)
        if refusal is None:
            assert exemption.expires_at is not None
            assert exemption.expires_at - now <= timedelta(days=max_days, hours=24)
            if approvers:
                assert exemption.approver.lower() in approvers


# --- PHI scope -------------------------------------------------------------------------------


def _oracle(tags: Any) -> bool:
    """The documented rule, written independently: ``data-classification`` = phi / ephi or
    ``hipaa`` = true, names and values case-insensitive (values trimmed). Any tag matching is
    enough: ARM tag names are case-insensitive, so two spellings of one name cannot disagree
    in Azure, and an input that has both is PHI when either says so."""
    if not isinstance(tags, dict):
        return False
    for name, value in tags.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                text = str(value)
            except ValueError:  # an integer of more than 4,300 digits
                continue
        else:
            continue
        key, text = str(name).lower(), text.strip().lower()
        if (key == "data-classification" and text in ("phi", "ephi")) or (
            key == "hipaa" and text == "true"
        ):
            return True
    return False


@PURE
@given(
    resource_tags=s.tags(),
    group_tags=st.one_of(st.none(), s.tags()),
    rid=st.sampled_from(s.estate_ids()),
)
@example(
    resource_tags={"HIPAA": "true", "hipaa": "false"},
    group_tags=None,
    rid=s.estate_ids()[0],
)
def test_phi_scope_follows_the_tag_rule_for_any_tags(
    resource_tags: Any, group_tags: Any, rid: str
) -> None:
    group = None if group_tags is None else {"tags": group_tags}
    snapshot = Snapshot({"id": rid, "tags": resource_tags}, {}, group)
    phi, seconds = s.timed(lambda: PhiScope().is_phi(snapshot))
    assert seconds < MOMENT
    assert phi == (_oracle(resource_tags) or _oracle(group_tags)), (resource_tags, group_tags)
