"""Every rendered payload: Teams cards valid Adaptive Cards 1.5, the Teams message in the
published shape, emails with escaped HTML and a text part, and none carrying a planted tag
value, evidence value or secret (the guard passes them, and refuses payloads that do)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from shared.kernel.findings import Finding, Severity, Status
from shared.notify.cards import card, md
from shared.notify.email import NoRecipients, render_email
from shared.notify.guard import PayloadGuard, PayloadLeak
from shared.notify.model import (
    AccessReviewReady,
    Digest,
    FixApplied,
    NewFailure,
    Notice,
    TestMessage,
    outbox_item,
    sensitive_values,
)
from shared.notify.routing import Routing
from shared.notify.smtp import SmtpNotifier
from shared.notify.teams import TeamsNotifier
from shared.outbox.model import Channel, Kind

from .samples import OWNER, PLANTED, STORAGE, SUB, T0, TAGS, WEBHOOK, finding, notices

SECRETS = (WEBHOOK, "smtp-Pa55word!")


@pytest.fixture(scope="module")
def card_schema(reference_dir: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (reference_dir / "teams" / "adaptive-card__schema__1.5.0.json").read_text()
    )
    return schema


@pytest.fixture(scope="module")
def webhook_shape(reference_dir: Path) -> dict[str, Any]:
    shape: dict[str, Any] = json.loads(
        (
            reference_dir
            / "teams"
            / "teams-webhook-message__adaptive-card-attachment__msteams-docs.json"
        ).read_text()
    )
    return shape


def texts(payload: Any) -> str:
    """Every string of a payload, one per line."""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        return "\n".join(texts(v) for v in payload.values())
    if isinstance(payload, list):
        return "\n".join(texts(v) for v in payload)
    return ""


def teams() -> TeamsNotifier:
    return TeamsNotifier(WEBHOOK)


def smtp() -> SmtpNotifier:
    routing = Routing(default=("secops@contoso.com",), owner_domains=frozenset({"contoso.com"}))
    return SmtpNotifier("127.0.0.1", 25, "phiguard@contoso.com", routing, password=SECRETS[1])


def payloads() -> list[tuple[str, Notice, dict[str, Any]]]:
    out = []
    for notice in notices():
        out.append(("teams", notice, teams().render(notice)))
        out.append(("email", notice, smtp().render(notice)))
    return out


def _validator(schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_every_card_is_a_valid_adaptive_card_1_5(card_schema: dict[str, Any]) -> None:
    validator = _validator(card_schema)
    for notice in notices():
        content = teams().render(notice)["attachments"][0]["content"]
        errors = [e.message[:200] for e in validator.iter_errors(content)]
        assert errors == [], (notice.kind, errors)
        assert content["version"] == "1.5" and content["type"] == "AdaptiveCard"


def test_the_schema_check_is_not_vacuous(card_schema: dict[str, Any]) -> None:
    validator = _validator(card_schema)
    good = card(notices()[0])
    for broken in (
        {**good, "msteams": {"width": "Full"}},  # not in the 1.5 schema
        {**good, "body": [{"type": "TextBlock"}]},  # text is required
        {**good, "body": [{"type": "FactSet", "facts": [{"title": "x"}]}]},
        {**good, "actions": [{"type": "Action.OpenUrl", "title": "no url"}]},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_the_teams_message_has_the_published_shape(webhook_shape: dict[str, Any]) -> None:
    for notice in notices():
        message = teams().render(notice)
        assert message.keys() == webhook_shape.keys()
        assert message["type"] == webhook_shape["type"] == "message"
        [attachment] = message["attachments"]
        [reference] = webhook_shape["attachments"]
        assert attachment.keys() == reference.keys()
        assert attachment["contentType"] == reference["contentType"]
        assert attachment["contentUrl"] is None
        assert attachment["content"]["$schema"] == reference["content"]["$schema"]


def test_the_fix_card_shows_the_diff_and_the_rollback_command() -> None:
    fix = next(n for n in notices() if isinstance(n, FixApplied))
    text = texts(teams().render(fix))
    assert md("properties.minimumTlsVersion: TLS1_1 → TLS1_2") in text
    assert md("properties.supportsHttpsTrafficOnly: false → true") in text
    assert md("phiguard rollback 20261206T040000000000Z-a1b2c3") in text
    assert "tags" not in [line.path.split(".")[0] for line in fix.diff]
    email = smtp().render(fix)
    assert "phiguard rollback 20261206T040000000000Z-a1b2c3" in email["text"]
    assert "properties.minimumTlsVersion: TLS1_1 → TLS1_2" in email["text"]
    assert "TLS1_1 → TLS1_2" in email["html"]


def test_names_render_as_data_never_as_markup() -> None:
    hostile = notices()[1]
    assert isinstance(hostile, NewFailure)
    message = texts(teams().render(hostile))
    assert "[evil](javascript:alert(1))" not in message  # no Markdown link
    assert md("nsg-[evil](javascript:alert(1))*x*") in message
    email = smtp().render(notices()[0])
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]
    assert "<script>" in email["text"]  # the text part is text
    assert "\n" not in email["subject"] and email["subject"].startswith("[phiguard] CRITICAL")


def test_every_rendered_payload_passes_the_guard_and_carries_nothing_planted() -> None:
    guard = PayloadGuard.of(SECRETS)
    rendered = payloads()
    assert len(rendered) == 12
    for channel, notice, payload in rendered:
        guard.check(payload, notice.sensitive)
        text = texts(payload)
        for value in (*PLANTED, *SECRETS, "S3CR3TSIGNATURE", "/workflows/0123456789abcdef"):
            assert value.casefold() not in text.casefold(), (channel, notice.kind, value)
    owner_shown = [
        p
        for _, n, p in rendered
        if not isinstance(n, Digest | TestMessage | AccessReviewReady) and n.resource.owner
    ]
    assert owner_shown and all(OWNER in texts(p) or md(OWNER) in texts(p) for p in owner_shown)


def test_the_builders_keep_planted_values_aside_for_the_guard() -> None:
    failure = notices()[0]
    assert {"Jane Q. Public", "MRN-0042-7781", "TLS1_0"} <= failure.sensitive
    assert OWNER not in failure.sensitive  # the owner tag may be shown
    assert "storage" not in failure.sensitive  # within the resource type: metadata
    assert "phi" not in failure.sensitive  # too common to search for


@pytest.mark.parametrize(
    "leak",
    [
        "Jane Q. Public",
        "jane q. public",
        "MRN-0042-7781",
        "TLS1_0",
        WEBHOOK,
        "/workflows/0123456789abcdef/triggers/manual/paths/invoke",
        "smtp-Pa55word!",
        "https://x.blob.core.windows.net/c?sv=2022&sig=abc",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc",
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi",
        "SSN 123-45-6789",
    ],
)
def test_the_guard_refuses_a_payload_carrying_a_leak(leak: str) -> None:
    guard = PayloadGuard.of(SECRETS)
    notice = notices()[0]
    message = teams().render(notice)
    message["attachments"][0]["content"]["body"].append(
        {"type": "TextBlock", "text": f"x {leak} y"}
    )
    with pytest.raises(PayloadLeak) as caught:
        guard.check(message, notice.sensitive)
    assert leak not in str(caught.value) and "$.attachments[0].content.body" in str(caught.value)
    email = smtp().render(notice)
    with pytest.raises(PayloadLeak):
        guard.check({**email, "html": email["html"] + leak}, notice.sensitive)


def test_rendering_refuses_what_the_guard_refuses() -> None:
    notice = notices()[0]
    assert isinstance(notice, NewFailure)
    leaky = NewFailure(
        notice.resource,
        notice.check_id,
        "title quoting Jane Q. Public",
        notice.severity,
        notice.hipaa,
        notice.detected_at,
        notice.sensitive,
    )
    with pytest.raises(PayloadLeak):
        teams().render(leaky)
    with pytest.raises(PayloadLeak):
        smtp().render(leaky)


def test_sensitive_values_skip_short_common_and_metadata_values() -> None:
    values = sensitive_values(
        {"a": "TLS1_0", "b": True, "c": 3, "d": ["Jane Doe", {"e": "x"}]},
        tags={"owner": OWNER, "env": "dev", "hipaa": "true", "app": "stphirecords"},
        keep_tag="Owner",
        metadata=["stphirecords"],
    )
    assert values == {"TLS1_0", "Jane Doe"}


def test_outbox_items_are_keyed_by_the_notice() -> None:
    notifier = teams()
    items = [outbox_item(notifier, n, T0) for n in notices()]
    assert len({i.key for i in items}) == len(items)
    assert [i.kind for i in items] == [
        Kind.NEW_FAILURE,
        Kind.NEW_FAILURE,
        Kind.FIX_APPLIED,
        Kind.ESCALATION,
        Kind.DIGEST,
        Kind.TEST,
    ]
    assert all(i.channel is Channel.TEAMS for i in items)
    again = outbox_item(notifier, notices()[0], T0)
    assert again.key == items[0].key  # the same notice twice: one item


def test_email_needs_someone_to_tell() -> None:
    notifier = SmtpNotifier("127.0.0.1", 25, "phiguard@contoso.com", Routing())
    with pytest.raises(NoRecipients):
        notifier.render(notices()[0])
    assert render_email(notices()[0], ("a@contoso.com",))["to"] == ["a@contoso.com"]


def test_finding_builder_uses_only_metadata() -> None:
    from shared.notify.model import new_failure

    notice = new_failure(finding(), detected_at=T0, tags=TAGS, owner_tag="owner")
    assert (
        notice.resource.name == "stphirecords" and notice.resource.resource_group == "rg-phi-data"
    )
    assert not hasattr(notice, "evidence") and not hasattr(notice, "reason")


def test_escaping_never_hides_a_value_from_the_guard() -> None:
    """Markdown escapes (cards) and HTML character references (email) are undone first."""
    notice = notices()[0]
    assert isinstance(notice, NewFailure)
    leaky = NewFailure(
        notice.resource,
        notice.check_id,
        "owned by O'Brien-Smith, patient",
        notice.severity,
        notice.hipaa,
        notice.detected_at,
        frozenset({"O'Brien-Smith"}),
    )
    assert "O&#39;Brien-Smith" in render_email(leaky, ("a@contoso.com",))["html"]
    assert md("O'Brien-Smith") != "O'Brien-Smith"
    with pytest.raises(PayloadLeak):
        teams().render(leaky)
    with pytest.raises(PayloadLeak):
        smtp().render(leaky)


def test_a_malformed_resource_id_still_names_its_scope() -> None:
    from shared.notify.model import ResourceRef

    ref = ResourceRef.of(f"/subscriptions/{SUB}/resourceGroups/rg-x/providers", phi=True)
    assert (ref.subscription_id, ref.resource_group) == (SUB, "rg-x")


def test_the_digest_counts_failing_findings_and_lists_the_most_severe() -> None:
    from dataclasses import replace

    from shared.kernel.findings import Severity, Status
    from shared.notify.model import digest

    failure, hostile = notices()[0], notices()[1]
    assert isinstance(failure, NewFailure) and isinstance(hostile, NewFailure)
    found = [finding(), finding(severity=Severity.HIGH), replace(finding(), status=Status.PASS)]
    result = digest(T0, T0, found, [hostile, failure, hostile], fixes=2, listed=2)
    assert result.open_by_severity == {Severity.CRITICAL: 1, Severity.HIGH: 1}
    assert result.new_failures[0].severity is Severity.CRITICAL
    assert (len(result.new_failures), result.more_new_failures, result.fixes) == (2, 1, 2)
    card_text = texts(teams().render(result))
    assert "New failures" in card_text and "3" in card_text


def test_a_failure_whose_evidence_repeats_a_word_of_its_title_is_still_told() -> None:
    # Regression: the WAF check's evidence ("Enabled") is a word of its own title; the guard
    # took it for a leak and the demo's new-failure cards were never sent.
    from shared.notify.model import new_failure

    waf = Finding(
        STORAGE,
        "microsoft.network/frontdoorwebapplicationfirewallpolicies",
        "edge_frontdoor_waf_policy_prevention_mode",
        Status.FAIL,
        Severity.HIGH,
        ("164.312(a)(1)",),
        "Front Door WAF policy is Enabled in prevention mode",
        "The policy runs in Detection mode.",
        {"properties.policySettings.enabledState": "Enabled", "mode": "Detection"},
        True,
    )
    notice = new_failure(waf, detected_at=T0)
    assert "Enabled" not in notice.sensitive
    TeamsNotifier(WEBHOOK).render(notice)  # no PayloadLeak


def test_the_access_review_announcement_is_a_valid_card_and_an_email_without_the_report(
    card_schema: dict[str, Any],
) -> None:
    from shared.notify.model import access_review_ready

    notice = access_review_ready(
        {
            "week": "2026-W49",
            "counts": {"paths": 412, "principals": 57, "failing_rules": 6, "new": 3},
            "missing_permissions": ["AuditLog.Read.All"],
            "link": "access-reviews/2026-W49/access-review.html",
        },
        T0,
    )
    payload = card(notice)
    jsonschema.validate(payload, card_schema)
    text = json.dumps(payload)
    assert "Weekly access review 2026-W49" in text and "412" in text and "AuditLog" in text
    email = render_email(notice, ("compliance@contoso.com",))
    assert email["subject"] == "[phiguard] Weekly access review 2026-W49"
    assert "Paths to PHI: 412" in email["text"] and "AuditLog.Read.All" in email["text"]
    assert "access-reviews/2026-W49/access-review.html" in email["html"]
    assert notice.key != access_review_ready({"week": "2026-W49"}, T0.replace(hour=5)).key
