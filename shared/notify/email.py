"""Email for the notices: an HTML part (jinja2, autoescaped) and a plain-text part, routed to
recipients (``shared.notify.routing``), sent by ACS (:mod:`shared.notify.acs`) or SMTP
(:mod:`shared.notify.smtp`).

The outbox payload of an email is ``{"to": [...], "subject": ..., "text": ..., "html": ...}``,
checked by the guard on rendering. Text from Azure is made inert (control characters visible,
``shared.safe_text.inert``) and, in the HTML part, escaped by jinja2's autoescape; the subject is
one line.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from shared.kernel.errors import PhiguardError
from shared.kernel.findings import Severity
from shared.notify.cards import ACCESS_REVIEW_FACTS, MAX_DIGEST_LINES, diff_lines, when
from shared.notify.guard import PayloadGuard
from shared.notify.model import (
    AccessReviewReady,
    Digest,
    Escalation,
    FixApplied,
    NewFailure,
    Notice,
    TestMessage,
)
from shared.notify.routing import Routing
from shared.safe_text import inert, one_line

if TYPE_CHECKING:
    from jinja2 import Environment

_LAYOUT_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px;">
<h2 style="margin: 0 0 12px 0;">{{ heading }}</h2>
{% block content %}{% endblock %}
<p style="color: #666; font-size: 12px;">Sent by phiguard. This message carries resource
metadata only, never tag values or the evidence a check looked at.</p>
</body></html>
"""

_FACTS_HTML = """{% macro facts(rows) %}<table style="border-collapse: collapse;">
{% for title, value in rows if value %}<tr><th style="text-align: left; padding: 2px 12px 2px 0;">{{ title }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>{% endmacro %}"""

_TEMPLATES = {
    "layout.html": _LAYOUT_HTML,
    "facts.html": _FACTS_HTML,
    "new_failure.html": """{% extends "layout.html" %}{% from "facts.html" import facts %}
{% block content %}<p><strong>{{ n.title }}</strong></p>
{{ facts(rows) }}
<p>Details: <code>phiguard status --resource {{ n.resource.resource_id }}</code></p>
{% endblock %}""",
    "fix_applied.html": """{% extends "layout.html" %}{% from "facts.html" import facts %}
{% block content %}{{ facts(rows) }}
{% if n.summary %}<p>{{ n.summary }}</p>{% endif %}
{% if diff %}<h3>Changed</h3><pre>{% for line in diff %}{{ line }}
{% endfor %}</pre>{% endif %}
<p>To undo it: <code>{{ n.rollback_command }}</code></p>
{% endblock %}""",
    "escalation.html": """{% extends "layout.html" %}{% from "facts.html" import facts %}
{% block content %}<p>{{ n.reason }}</p>
{{ facts(rows) }}
{% endblock %}""",
    "digest.html": """{% extends "layout.html" %}{% from "facts.html" import facts %}
{% block content %}<h3>Open failures by severity</h3>
{{ facts(counts) }}
{{ facts(rows) }}
{% if lines %}<h3>New CRITICAL / HIGH failures on PHI resources</h3><ul>
{% for line in lines %}<li>{{ line }}</li>
{% endfor %}</ul>{% if more > 0 %}<p>and {{ more }} more</p>{% endif %}{% endif %}
{% endblock %}""",
    "access_review.html": """{% extends "layout.html" %}{% from "facts.html" import facts %}
{% block content %}{{ facts(rows) }}
{% if missing %}<p><strong>Not known</strong> (permissions missing): {{ missing }}</p>{% endif %}
<p>Report (HTML, CSV, JSON): <code>{{ location }}</code></p>
<p>Decide each path in the CSV, then: <code>phiguard access-review decide FILE.csv</code></p>
{% endblock %}""",
    "access_review.txt": """{% from "facts.txt" import facts %}{{ heading }}

{{ facts(rows) }}{% if missing %}
Not known (permissions missing): {{ missing }}
{% endif %}
Report (HTML, CSV, JSON): {{ location }}
Decide each path in the CSV, then: phiguard access-review decide FILE.csv
""",
    "test.html": """{% extends "layout.html" %}
{% block content %}<p>If you can read this, phiguard's email channel works ({{ at }}).</p>
{% if n.note %}<p>{{ n.note }}</p>{% endif %}
{% endblock %}""",
    "test.txt": """{{ heading }}

If you can read this, phiguard's email channel works ({{ at }}).
{% if n.note %}
{{ n.note }}
{% endif %}""",
    "facts.txt": """{% macro facts(rows) %}{% for title, value in rows if value %}{{ title }}: {{ value }}
{% endfor %}{% endmacro %}""",
    "new_failure.txt": """{% from "facts.txt" import facts %}{{ heading }}

{{ n.title }}

{{ facts(rows) }}
Details: phiguard status --resource {{ n.resource.resource_id }}
""",
    "fix_applied.txt": """{% from "facts.txt" import facts %}{{ heading }}

{{ facts(rows) }}{% if n.summary %}
{{ n.summary }}
{% endif %}{% if diff %}
Changed:
{% for line in diff %}  {{ line }}
{% endfor %}{% endif %}
To undo it: {{ n.rollback_command }}
""",
    "escalation.txt": """{% from "facts.txt" import facts %}{{ heading }}

{{ n.reason }}

{{ facts(rows) }}""",
    "digest.txt": """{% from "facts.txt" import facts %}{{ heading }}

Open failures by severity:
{{ facts(counts) }}
{{ facts(rows) }}{% if lines %}
New CRITICAL / HIGH failures on PHI resources:
{% for line in lines %}  - {{ line }}
{% endfor %}{% if more > 0 %}  and {{ more }} more
{% endif %}{% endif %}""",
}


@cache
def _environments() -> tuple[Environment, Environment]:
    from jinja2 import DictLoader, Environment, StrictUndefined

    loader = DictLoader(_TEMPLATES)
    html = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
    text = Environment(
        loader=loader,
        autoescape=False,  # noqa: S701 - the plain-text part: no HTML to escape
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return html, text


class _Inert:
    """A notice's attributes, made inert as they are read (what the templates see)."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._value, name)
        if isinstance(value, str):
            return inert(value)
        if hasattr(value, "__dataclass_fields__"):
            return _Inert(value)
        return value


def _resource_rows(notice: NewFailure | FixApplied | Escalation) -> list[tuple[str, str]]:
    r = notice.resource
    return [
        ("Resource", inert(r.name)),
        ("Type", inert(r.type)),
        ("Resource group", inert(r.resource_group)),
        ("Subscription", inert(r.subscription_id)),
        ("PHI", "yes" if r.phi else "no"),
        ("Owner", inert(r.owner)),
    ]


def _context(notice: Notice) -> tuple[str, str, dict[str, Any]]:
    """(template name, subject, context)."""
    if isinstance(notice, TestMessage):
        heading = "phiguard test message"
        return "test", heading, {"heading": heading, "at": when(notice.at)}
    if isinstance(notice, AccessReviewReady):
        heading = f"Weekly access review {notice.week}"
        rows = [(title, str(notice.counts.get(key, 0))) for key, title in ACCESS_REVIEW_FACTS]
        return (
            "access_review",
            heading,
            {
                "heading": heading,
                "rows": rows,
                "missing": inert(", ".join(notice.missing_permissions)),
                "location": inert(notice.location),
            },
        )
    if isinstance(notice, NewFailure):
        heading = f"New {notice.severity.value} failure on a PHI resource"
        subject = f"{notice.severity.value}: {notice.title} on {notice.resource.name}"
        rows = [
            ("Check", inert(notice.check_id)),
            ("Severity", notice.severity.value),
            ("HIPAA", inert(", ".join(notice.hipaa))),
            *_resource_rows(notice),
            ("Detected", when(notice.detected_at)),
        ]
        return "new_failure", subject, {"heading": heading, "rows": rows}
    if isinstance(notice, FixApplied):
        heading = f"Fix applied: {notice.remediation_id}"
        subject = f"Fix applied: {notice.remediation_id} on {notice.resource.name}"
        rows = [
            ("Status", inert(notice.status)),
            ("Checks", inert(", ".join(notice.check_ids))),
            *_resource_rows(notice),
            ("Record", inert(notice.record_id)),
            ("At", when(notice.at)),
        ]
        diff = [inert(line) for line in diff_lines(notice)]
        return "fix_applied", subject, {"heading": heading, "rows": rows, "diff": diff}
    if isinstance(notice, Escalation):
        heading = f"Escalation: a person must act ({notice.status})"
        subject = f"Escalation: {notice.remediation_id} on {notice.resource.name}"
        rows = [
            ("Remediation", inert(notice.remediation_id)),
            ("Checks", inert(", ".join(notice.check_ids))),
            *_resource_rows(notice),
            ("Record", inert(notice.record_id)),
            ("At", when(notice.at)),
        ]
        return "escalation", subject, {"heading": heading, "rows": rows}
    return _digest_context(notice)


def _digest_context(notice: Digest) -> tuple[str, str, dict[str, Any]]:
    heading = f"phiguard digest, {when(notice.period_start)} to {when(notice.period_end)}"
    counts = [(s.value, str(notice.open_by_severity.get(s, 0))) for s in Severity]
    rows = [
        ("New failures", str(len(notice.new_failures) + notice.more_new_failures)),
        ("Fixes applied", str(notice.fixes)),
        ("Escalations", str(notice.escalations)),
    ]
    lines = [
        inert(f"{f.severity.value}: {f.title} on {f.resource.name} ({f.resource.resource_group})")
        for f in notice.new_failures[:MAX_DIGEST_LINES]
    ]
    more = len(notice.new_failures) - MAX_DIGEST_LINES + notice.more_new_failures
    context = {"heading": heading, "counts": counts, "rows": rows, "lines": lines, "more": more}
    return "digest", heading, context


def render_email(notice: Notice, recipients: tuple[str, ...]) -> dict[str, Any]:
    """The email payload for ``notice`` (not guarded: :meth:`EmailRenderer.render` is)."""
    name, subject, context = _context(notice)
    subject = one_line("[phiguard] " + subject, 200)
    html_env, text_env = _environments()
    values = {"n": _Inert(notice), "subject": subject, **context}
    return {
        "to": list(recipients),
        "subject": subject,
        "text": text_env.get_template(f"{name}.txt").render(values),
        "html": html_env.get_template(f"{name}.html").render(values),
    }


class NoRecipients(PhiguardError, ValueError):
    """Routing found nobody to tell."""


class EmailRenderer:
    """The ``render`` half of the email notifiers: routing, templates, the guard."""

    def __init__(self, routing: Routing, guard: PayloadGuard) -> None:
        self.routing = routing
        self.guard = guard

    def render(self, notice: Notice) -> dict[str, Any]:
        recipients = self.routing.for_notice(notice)
        if not recipients:
            raise NoRecipients(f"no email recipients for a {notice.kind} notice")
        payload = render_email(notice, recipients)
        self.guard.check(payload, notice.sensitive)
        return payload
