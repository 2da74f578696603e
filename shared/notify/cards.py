"""Adaptive Cards 1.5 for the notices, and the Teams message that carries one.

Every text that comes from Azure (resource names, check titles, a fix's values) is shown as
data: control characters made visible (``shared.safe_text.inert``) and Markdown escaped, so a
resource named ``[click](https://evil.example)`` renders as typed, never as a link. Cards hold
only what the notice holds (see ``shared.notify.model``); the guard checks them on rendering.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from shared.kernel.findings import Severity
from shared.notify.model import (
    AccessReviewReady,
    Digest,
    Escalation,
    FixApplied,
    NewFailure,
    Notice,
    ResourceRef,
    TestMessage,
)
from shared.safe_text import inert

CARD_VERSION = "1.5"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_DIGEST_LINES = 10
# "The message size limit is 28 KB. When the size exceeds 28 KB, you receive an error."
# (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook,
# the same limit for the Workflows "When a Teams webhook request is received" trigger). Read as
# 28,000 bytes of the JSON body as sent, the stricter reading of "KB".
MAX_MESSAGE_BYTES = 28_000
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def md(value: object) -> str:
    """``value`` as inert text with Markdown's special characters escaped."""
    return _MARKDOWN.sub(r"\\\1", inert(value))


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [{"title": title, "value": value} for title, value in pairs if value],
    }


def _resource_facts(resource: ResourceRef) -> list[tuple[str, str]]:
    return [
        ("Resource", md(resource.name)),
        ("Type", md(resource.type)),
        ("Resource group", md(resource.resource_group)),
        ("Subscription", md(resource.subscription_id)),
        ("PHI", "yes" if resource.phi else "no"),
        ("Owner", md(resource.owner)),
    ]


def _portal(resource: ResourceRef) -> list[dict[str, Any]]:
    if not resource.resource_id.startswith("/subscriptions/"):
        return []
    url = "https://portal.azure.com/#resource" + quote(resource.resource_id, safe="/")
    return [{"type": "Action.OpenUrl", "title": "Open in the Azure portal", "url": url}]


def _color(severity: Severity) -> str:
    return "Attention" if severity in (Severity.CRITICAL, Severity.HIGH) else "Warning"


def _card(
    body: list[dict[str, Any]], fallback: str, actions: list[dict[str, Any]]
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": fallback,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def new_failure_card(notice: NewFailure) -> dict[str, Any]:
    heading = f"New {notice.severity.value} failure on a PHI resource"
    body = [
        _text(
            heading, weight="Bolder", size="Medium", color=_color(notice.severity), style="heading"
        ),
        _text(md(notice.title), weight="Bolder"),
        _facts(
            [
                ("Check", md(notice.check_id)),
                ("Severity", notice.severity.value),
                ("HIPAA", md(", ".join(notice.hipaa))),
                *_resource_facts(notice.resource),
                ("Detected", when(notice.detected_at)),
            ]
        ),
        _text(
            "Details: " + md(f"phiguard status --resource {notice.resource.resource_id}"),
            fontType="Monospace",
            isSubtle=True,
        ),
    ]
    return _card(body, heading, _portal(notice.resource))


def diff_lines(notice: FixApplied) -> list[str]:
    return [f"{line.path}: {line.before} → {line.after}" for line in notice.diff]


def fix_applied_card(notice: FixApplied) -> dict[str, Any]:
    heading = f"Fix applied: {notice.remediation_id}"
    body: list[dict[str, Any]] = [
        _text(md(heading), weight="Bolder", size="Medium", color="Good", style="heading"),
        _facts(
            [
                ("Status", md(notice.status)),
                ("Checks", md(", ".join(notice.check_ids))),
                *_resource_facts(notice.resource),
                ("Record", md(notice.record_id)),
                ("At", when(notice.at)),
            ]
        ),
    ]
    if notice.summary:
        body.append(_text(md(notice.summary)))
    if notice.diff:
        body.append(_text("Changed", weight="Bolder", separator=True))
        body.append(
            {
                "type": "Container",
                "items": [
                    _text(md(line), fontType="Monospace", size="Small", spacing="None")
                    for line in diff_lines(notice)
                ],
            }
        )
    body.append(_text("To undo it:", weight="Bolder", separator=True))
    body.append(_text(md(notice.rollback_command), fontType="Monospace"))
    return _card(body, heading, _portal(notice.resource))


def escalation_card(notice: Escalation) -> dict[str, Any]:
    heading = f"Escalation: a person must act ({notice.status})"
    body = [
        _text(md(heading), weight="Bolder", size="Medium", color="Warning", style="heading"),
        _text(md(notice.reason)),
        _facts(
            [
                ("Remediation", md(notice.remediation_id)),
                ("Checks", md(", ".join(notice.check_ids))),
                *_resource_facts(notice.resource),
                ("Record", md(notice.record_id)),
                ("At", when(notice.at)),
            ]
        ),
    ]
    return _card(body, heading, _portal(notice.resource))


def digest_card(notice: Digest) -> dict[str, Any]:
    heading = f"phiguard digest, {when(notice.period_start)} to {when(notice.period_end)}"
    counts = [(s.value, str(notice.open_by_severity.get(s, 0))) for s in Severity]
    body: list[dict[str, Any]] = [
        _text(heading, weight="Bolder", size="Medium", style="heading"),
        _text("Open failures by severity", weight="Bolder"),
        _facts(counts),
        _facts(
            [
                ("New failures", str(len(notice.new_failures) + notice.more_new_failures)),
                ("Fixes applied", str(notice.fixes)),
                ("Escalations", str(notice.escalations)),
            ]
        ),
    ]
    if notice.new_failures:
        body.append(_text("New CRITICAL / HIGH failures on PHI resources", weight="Bolder"))
        for failure in notice.new_failures[:MAX_DIGEST_LINES]:
            body.append(
                _text(
                    f"{failure.severity.value}: {md(failure.title)} on "
                    f"{md(failure.resource.name)} ({md(failure.resource.resource_group)})",
                    spacing="Small",
                )
            )
        more = len(notice.new_failures) - MAX_DIGEST_LINES + notice.more_new_failures
        if more > 0:
            body.append(_text(f"and {more} more", isSubtle=True))
    return _card(body, heading, [])


def test_card(notice: TestMessage) -> dict[str, Any]:
    heading = "phiguard test message"
    body = [
        _text(heading, weight="Bolder", size="Medium", style="heading"),
        _text(f"If you can read this, phiguard's Teams channel works ({when(notice.at)})."),
    ]
    if notice.note:
        body.append(_text(md(notice.note), isSubtle=True))
    return _card(body, heading, [])


ACCESS_REVIEW_FACTS = (
    ("paths", "Paths to PHI"),
    ("principals", "Principals"),
    ("privileged_paths", "Privileged paths"),
    ("standing_privileged", "Standing privileged"),
    ("new", "New since last week"),
    ("removed", "Removed since last week"),
    ("failing_rules", "Rules failing"),
    ("failing_subjects", "Grants flagged"),
    ("unknowns", "Unknowns"),
)


def access_review_card(notice: AccessReviewReady) -> dict[str, Any]:
    heading = f"Weekly access review {notice.week}"
    body: list[dict[str, Any]] = [
        _text(heading, weight="Bolder", size="Medium", style="heading"),
        _facts([(title, str(notice.counts.get(key, 0))) for key, title in ACCESS_REVIEW_FACTS]),
    ]
    if notice.missing_permissions:
        body.append(
            _text(
                "Not known (permissions missing): " + md(", ".join(notice.missing_permissions)),
                color="Warning",
            )
        )
    body.append(_text(f"Report: {md(notice.location)}", isSubtle=True))
    body.append(
        _text(
            "Decide each path in the CSV beside the report, then: "
            f"phiguard access-review decide FILE.csv ({when(notice.at)})",
            isSubtle=True,
        )
    )
    return _card(body, heading, [])


def card(notice: Notice) -> dict[str, Any]:
    if isinstance(notice, TestMessage):
        return test_card(notice)
    if isinstance(notice, AccessReviewReady):
        return access_review_card(notice)
    if isinstance(notice, NewFailure):
        return new_failure_card(notice)
    if isinstance(notice, FixApplied):
        return fix_applied_card(notice)
    if isinstance(notice, Escalation):
        return escalation_card(notice)
    return digest_card(notice)


def teams_message(content: dict[str, Any]) -> dict[str, Any]:
    """The message a Teams Workflows / incoming webhook takes: one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def message_bytes(message: dict[str, Any]) -> int:
    """The size of ``message`` as it is posted (``json.dumps`` defaults, as azure-core sends)."""
    return len(json.dumps(message).encode())


def _texts(value: Any) -> list[dict[str, Any]]:
    """Every object in a card that carries a ``text`` (TextBlocks) or a fact's ``value``."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("text"), str) or isinstance(value.get("value"), str):
            found.append(value)
        for item in value.values():
            found.extend(_texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_texts(item))
    return found


def _text_length(holder: dict[str, Any]) -> int:
    text = holder.get("text")
    return len(text if isinstance(text, str) else holder.get("value") or "")


def fit_message(message: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """``message`` cut down to at most ``limit`` bytes (Teams refuses a larger one): first the
    trailing lines of a card's Containers (a fix's diff) go, with a line saying how many, then
    the longest texts are shortened. A message that fits is returned as it is."""
    if message_bytes(message) <= limit:
        return message
    fitted = copy.deepcopy(message)
    for attachment in fitted.get("attachments", []):
        body = attachment.get("content", {}).get("body", [])
        for container in [b for b in body if b.get("type") == "Container"]:
            items = container.get("items", [])
            dropped = 0
            while len(items) > 1 and message_bytes(fitted) > limit:
                items.pop()
                dropped += 1
            if dropped:
                items.append(
                    _text(f"and {dropped} more not shown (the message limit)", isSubtle=True)
                )
    while message_bytes(fitted) > limit:
        holders = _texts(fitted)
        if not holders:
            break
        longest = max(holders, key=_text_length)
        field_name = "text" if isinstance(longest.get("text"), str) else "value"
        value = longest[field_name]
        if len(value) <= 16:
            break
        cut = value[: len(value) // 2].rstrip("\\")
        longest[field_name] = cut + "…"
    return fitted
