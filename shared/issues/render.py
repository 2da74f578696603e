"""An issue rendered from a finding: what failed and why it matters, the evidence, how to fix it,
how to exempt it, links. Markdown for GitHub, HTML for Azure DevOps, from one list of blocks.

What goes in is resource metadata and check evidence only (the trust model's "no resource data
values"): the resource id, type, check metadata, the check's reason and evidence values. Tag
values are never copied, except the owner tag's (the assignee) — an evidence entry whose path
goes through ``tags`` is withheld. Every value that came from Azure is untrusted text (anyone who
can name a resource chooses it): it is bounded, control characters shown as ``\\x1b``, and
escaped so it cannot mention anyone (``@`` is followed by a zero-width space), open a link or
autolink, or add HTML, emphasis or a heading. :func:`assert_no_phi_or_secret` is the guard a test
runs over every payload sent.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from shared.issues.model import Fingerprint, IssueContent
from shared.kernel.errors import PhiguardError
from shared.kernel.hipaa import SECTIONS

PORTAL = "https://portal.azure.com/#@/resource"
VALUE_LIMIT = 200  # characters of one evidence value
EVIDENCE_LIMIT = 25  # evidence entries shown
TEXT_LIMIT = 1000  # characters of a reason
TITLE_LIMIT = 240  # GitHub allows 256, Azure DevOps 255
WITHHELD = "(tag value withheld)"

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:;$%^,/?])")
_AUTOLINK = re.compile(r"(?i)(www)(\.)|(://)")
_TAG_PATH = re.compile(r"(?i)(^|[.\[\]'\"/])tags($|[.\[\]'\"/])")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.()\-]")


class PhiLeak(PhiguardError, AssertionError):
    """A payload holds a secret or a value that must never leave the tenant."""


class FindingLike(Protocol):
    """A :class:`~shared.kernel.findings.Finding` or a stored finding."""

    @property
    def resource_id(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def check_id(self) -> str: ...
    @property
    def severity(self) -> Any: ...
    @property
    def hipaa(self) -> tuple[str, ...]: ...
    @property
    def title(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def evidence(self) -> Mapping[str, Any]: ...
    @property
    def phi(self) -> bool: ...


class CheckLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def guidance(self) -> str: ...
    @property
    def remediation(self) -> str | None: ...
    @property
    def service(self) -> str: ...


# --- escaping ---------------------------------------------------------------------------------


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def bounded(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` as one line of at most ``limit`` characters, control characters shown visibly."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = _CONTROL.sub(_visible, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _defang(text: str) -> str:
    """Mentions and autolinks broken with a zero-width space (``@``, ``://``, ``www.``)."""
    text = text.replace("@", "@\u200b")
    return _AUTOLINK.sub(
        lambda m: f"{m.group(1)}\u200b{m.group(2)}" if m.group(1) else ":\u200b//", text
    )


def md(value: object, limit: int = VALUE_LIMIT) -> str:
    """Untrusted text as inert Markdown: bounded, every Markdown / HTML punctuation character
    backslash-escaped, mentions and autolinks broken."""
    return _MD_PUNCT.sub(r"\\\1", _defang(bounded(value, limit)))


def htm(value: object, limit: int = VALUE_LIMIT) -> str:
    """Untrusted text as inert HTML: bounded, escaped, mentions and autolinks broken."""
    return html.escape(_defang(bounded(value, limit)), quote=True)


def label(text: str) -> str:
    """A label / tag word: letters, digits and ``_.()-`` only, at most 50 characters."""
    return _LABEL_UNSAFE.sub("-", text)[:50]


# --- the document -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """An untrusted value inside a block."""

    value: object
    limit: int = VALUE_LIMIT


@dataclass(frozen=True)
class Link:
    """A link phiguard builds (trusted URL; label text escaped)."""

    url: str
    text: str


@dataclass(frozen=True)
class Code:
    """Trusted literal text shown as code (a command line phiguard wrote)."""

    text: str


Span = str | Data | Link | Code
Block = tuple[str, tuple[Span, ...]]  # kind: "h" (heading), "p" (paragraph), "li" (list item)


def _span_md(span: Span) -> str:
    if isinstance(span, Data):
        return md(span.value, span.limit)
    if isinstance(span, Link):
        return f"[{md(span.text)}](<{span.url}>)"
    if isinstance(span, Code):
        fence = "`" * (max((len(r) for r in re.findall("`+", span.text)), default=0) + 1)
        return f"{fence} {span.text} {fence}"
    return span


def _span_html(span: Span) -> str:
    if isinstance(span, Data):
        return htm(span.value, span.limit)
    if isinstance(span, Link):
        return f'<a href="{html.escape(span.url, quote=True)}">{htm(span.text)}</a>'
    if isinstance(span, Code):
        return f"<code>{html.escape(span.text)}</code>"
    return html.escape(span)


def to_markdown(blocks: Iterable[Block]) -> str:
    lines: list[str] = []
    previous = ""
    for kind, spans in blocks:
        text = "".join(_span_md(s) for s in spans)
        if kind == "h":
            lines += ["", f"### {text}", ""]
        elif kind == "li":
            lines.append(f"- {text}")
        else:
            lines += ["", text, ""] if previous != "p" else [text, ""]
        previous = kind
    return "\n".join(lines).strip() + "\n"


def to_html(blocks: Iterable[Block]) -> str:
    out: list[str] = []
    in_list = False
    for kind, spans in blocks:
        text = "".join(_span_html(s) for s in spans)
        if kind == "li" and not in_list:
            out.append("<ul>")
            in_list = True
        elif kind != "li" and in_list:
            out.append("</ul>")
            in_list = False
        out.append({"h": "<h3>{}</h3>", "li": "<li>{}</li>"}.get(kind, "<p>{}</p>").format(text))
    if in_list:
        out.append("</ul>")
    return "".join(out)


# --- an issue from a finding -----------------------------------------------------------------


def portal_url(resource_id: str) -> str:
    """The Azure portal page of a resource (the id's characters kept, others percent-encoded)."""
    return f"{PORTAL}{quote(resource_id, safe='/-_.()~')}"


def owner_of(tags: Mapping[str, Any] | None, owner_tag: str = "owner") -> str | None:
    """The owner tag's value (tag names case-insensitive), when it is a plausible handle: one
    word of letters, digits and ``-_.@`` up to 100 characters; anything else is ignored."""
    if not tags:
        return None
    for name, value in tags.items():
        if isinstance(name, str) and name.lower() == owner_tag.lower() and isinstance(value, str):
            value = value.strip()
            if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,99}", value):
                return value
    return None


def _evidence(evidence: Mapping[str, Any]) -> list[Block]:
    if not evidence:
        return [("p", ("No evidence values were recorded.",))]
    blocks: list[Block] = []
    for path, value in list(evidence.items())[:EVIDENCE_LIMIT]:
        shown: object = WITHHELD if _TAG_PATH.search(str(path)) else value
        blocks.append(("li", (Data(path, 120), ": ", Data(shown))))
    if len(evidence) > EVIDENCE_LIMIT:
        blocks.append(("li", (f"… and {len(evidence) - EVIDENCE_LIMIT} more",)))
    return blocks


def _severity(finding: FindingLike) -> str:
    return str(getattr(finding.severity, "value", finding.severity))


def render_issue(
    finding: FindingLike,
    check: CheckLike | None,
    fingerprint: Fingerprint,
    *,
    tags: Mapping[str, Any] | None = None,
    owner_tag: str = "owner",
    finding_url: str | None = None,
) -> IssueContent:
    """The issue for a failing finding. ``check`` supplies the guidance and the remediation id
    (None: the finding's own title, no guidance); ``tags`` are read for the owner tag only;
    ``finding_url`` is phiguard's link to the finding, when the app has a public address."""
    severity = _severity(finding)
    title = f"[phiguard] {finding.title or finding.check_id}: {bounded(_resource_name(finding.resource_id), 80)}"
    sections = [c for c in finding.hipaa if c in SECTIONS]
    target = (check.remediation if check and check.remediation else None) or finding.check_id
    blocks: list[Block] = [
        ("p", ("phiguard found a resource failing a HIPAA check.",)),
        ("h", ("What failed",)),
        ("li", ("Check: ", Data(finding.check_id), " — ", Data(finding.title))),
        ("li", ("Severity: ", severity)),
        ("li", ("Resource: ", Data(finding.resource_id, 400))),
        ("li", ("Resource type: ", Data(finding.resource_type))),
        ("li", ("In PHI scope: ", "yes" if finding.phi else "no")),
        ("li", ("Why: ", Data(finding.reason, TEXT_LIMIT))),
        ("h", ("Why it matters (HIPAA Security Rule)",)),
        *[("li", (f"45 CFR §{c} — {SECTIONS[c].name} ({SECTIONS[c].kind})",)) for c in sections],
        ("h", ("Evidence",)),
        *_evidence(finding.evidence),
        ("h", ("How to fix",)),
        (
            "p",
            (
                check.guidance
                if check and check.guidance
                else "See the check in `phiguard catalog`.",
            ),
        ),
        ("h", ("How to exempt",)),
        (
            "p",
            (
                "An approved exemption stops phiguard's automatic fix (never the finding): ",
                Code(
                    f"phiguard exempt {finding.resource_id} --target {target} "
                    "--until YYYY-MM-DD --approver WHO --reason WHY"
                ),
            ),
        ),
        ("h", ("Links",)),
        ("li", (Link(portal_url(finding.resource_id), "Resource in the Azure portal"),)),
    ]
    if finding_url:
        blocks.append(("li", (Link(finding_url, "The finding in phiguard"),)))
    blocks.append(("p", (f"<!-- {fingerprint.marker} -->",)))
    markdown = to_markdown(blocks)
    html_body = to_html(blocks[:-1]) + f"<p>{fingerprint.marker}</p>"
    labels = [
        "phiguard",
        label(f"severity-{severity.lower()}"),
        *(label(f"hipaa-{c}") for c in sections),
        *([label(f"service-{check.service}")] if check and check.service else []),
        fingerprint.marker,
    ]
    return IssueContent(
        title=bounded(title, TITLE_LIMIT),
        body=markdown,
        labels=tuple(dict.fromkeys(labels)),
        assignee=owner_of(tags, owner_tag),
        body_html=html_body,
        severity=severity,
    )


def _resource_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or resource_id


# --- the guard --------------------------------------------------------------------------------


def assert_no_phi_or_secret(
    payload: object,
    *,
    secrets: Iterable[str] = (),
    forbidden: Iterable[str] = (),
) -> None:
    """Raises :class:`PhiLeak` when ``payload`` (text, bytes or anything JSON-like, searched
    whole and case-insensitively) holds a secret (also base64-encoded, as in a Basic header) or
    a forbidden value (tag values that are not the owner's, known PHI). Names what leaked by
    kind only, never the value."""
    import base64

    text = _flatten(payload).lower()
    for secret in secrets:
        if not secret:
            continue
        variants = {secret, base64.b64encode(f":{secret}".encode()).decode()}
        if any(v.lower() in text for v in variants):
            raise PhiLeak("a secret appears in the payload")
    for value in forbidden:
        if value and value.lower() in text:
            raise PhiLeak(f"a forbidden value ({len(value)} characters) appears in the payload")


def _flatten(payload: object) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    if isinstance(payload, str):
        return payload
    if isinstance(payload, IssueContent):
        return "\n".join(
            [
                payload.title,
                payload.body,
                payload.body_html,
                *payload.labels,
                payload.assignee or "",
            ]
        )
    return json.dumps(payload, default=str, ensure_ascii=False)
