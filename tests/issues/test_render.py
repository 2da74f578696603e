"""The issue rendered from a finding: what, why (HIPAA), evidence, fix, exemption, links; no tag
value but the owner's; untrusted text inert in Markdown and HTML."""

from __future__ import annotations

import re

import pytest

from shared.issues.model import IssueContent
from shared.issues.render import (
    EVIDENCE_LIMIT,
    WITHHELD,
    PhiLeak,
    assert_no_phi_or_secret,
    bounded,
    htm,
    md,
    owner_of,
    portal_url,
    render_issue,
)
from shared.kernel.hipaa import SECTIONS

from .helpers import CHECK, FORBIDDEN, NSG, PAT, TAGS, TOKEN, finding, fingerprint


def _content(**kwargs: object) -> IssueContent:
    return render_issue(
        finding(),
        CHECK,
        fingerprint(),
        tags=TAGS,
        finding_url="https://phiguard.example/api/findings?fp=1",
        **kwargs,  # type: ignore[arg-type]
    )


def _outside_code(markdown: str) -> str:
    """The Markdown without its code spans (GitHub never mentions or links inside them) and the
    destinations of phiguard's own links (percent-encoded)."""
    return re.sub(r"\]\(<[^>\s]*>\)", "]", re.sub(r"(`+) .*? \1", "", markdown))


def test_the_body_says_what_failed_why_it_matters_evidence_fix_exemption_and_links() -> None:
    content = _content()
    body = content.body
    for heading in (
        "What failed",
        "Why it matters",
        "Evidence",
        "How to fix",
        "How to exempt",
        "Links",
    ):
        assert f"### {heading}" in body
    for citation in CHECK.hipaa:
        assert f"45 CFR §{citation} — {SECTIONS[citation].name}" in body
    assert CHECK.guidance in body
    assert f"phiguard exempt {NSG} --target {CHECK.remediation} --until YYYY-MM-DD" in body
    assert f"(<{portal_url(NSG)}>)" in body
    assert portal_url(NSG).startswith("https://portal.azure.com/#@/resource/subscriptions/")
    assert "(<https://phiguard.example/api/findings?fp=1>)" in body
    assert f"<!-- {fingerprint().marker} -->" in body
    assert fingerprint().marker in content.body_html
    assert "3389" in body and "HIGH" in body


def test_labels_are_severity_hipaa_service_and_the_fingerprint_and_the_owner_is_the_assignee() -> (
    None
):
    content = _content()
    assert content.labels[:2] == ("phiguard", "severity-high")
    assert {f"hipaa-{c}" for c in CHECK.hipaa} <= set(content.labels)
    assert "service-network" in content.labels and fingerprint().marker in content.labels
    assert all(len(label) <= 50 for label in content.labels)
    assert content.assignee == "alice-ops" and content.severity == "HIGH"
    assert content.title.startswith(f"[phiguard] {CHECK.title}: nsg-")


def test_no_tag_value_other_than_the_owner_ever_appears() -> None:
    content = _content()
    assert_no_phi_or_secret(content, forbidden=FORBIDDEN)
    assert "Jane" not in content.body and "Jane" not in content.body_html
    assert WITHHELD.replace("(", "\\(").replace(")", "\\)") in content.body
    # The whole tag set rendered as evidence too: withheld.
    leaky = finding(NSG, **{"tags": dict(TAGS), "properties.tags['mrn']": "MRN-4711-SECRETVALUE"})
    assert_no_phi_or_secret(render_issue(leaky, CHECK, fingerprint()), forbidden=FORBIDDEN)


def test_markdown_injection_from_names_reasons_and_evidence_is_inert() -> None:
    body = _outside_code(_content().body)
    assert "@attacker" not in body and "@everyone" not in body and "@root" not in body
    assert "@\u200battacker" in body
    assert not re.search(r"(?<!\\)<(img|script|b>)", body)
    assert "\\<img" in body  # shown as typed
    assert "](javascript" not in body and not re.search(r"(?<!\\)\[click", body)
    assert "www.evil" not in body
    assert not re.search(r"(?<!\\)<(?!https://|!-- phiguard)", body)  # no raw HTML tag opens


def test_html_injection_is_inert() -> None:
    html_body = re.sub(
        "<code>.*?</code>", "", _content().body_html
    )  # Azure DevOps: no text mentions
    assert "<img" not in html_body and "<script" not in html_body and "<b>" not in html_body
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_body
    assert "@attacker" not in html_body
    tags = set(re.findall(r"</?([a-z0-9]+)", html_body))
    assert tags <= {"p", "h3", "ul", "li", "a", "code"}, tags


def test_values_are_bounded_and_control_characters_visible() -> None:
    assert len(bounded("x" * 5000)) == 200
    assert bounded("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    assert md("a_b*c") == "a\\_b\\*c"
    assert md("`x`") == "\\`x\\`"
    assert md("https://evil.example") == "https\\:\u200b\\/\\/evil\\.example"
    assert htm("<a href='x'>@y</a>") == "&lt;a href=&#x27;x&#x27;&gt;@\u200by&lt;/a&gt;"
    many = finding(NSG, **{f"p{i}": "v" * 1000 for i in range(EVIDENCE_LIMIT + 5)})
    content = render_issue(many, CHECK, fingerprint())
    assert "… and 5 more" in content.body and len(content.body) < 20000


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"Owner": "bob"}, "bob"),
        ({"owner": "bob@contoso.com"}, "bob@contoso.com"),
        ({"owner": "@bob <x>"}, None),
        ({"owner": "a b"}, None),
        ({"owner": 7}, None),
        ({"patient-name": "Jane"}, None),
        (None, None),
    ],
)
def test_the_owner_tag_gives_the_assignee_when_it_is_a_plausible_handle(
    tags: dict[str, object] | None, expected: str | None
) -> None:
    assert owner_of(tags) == expected


def test_a_custom_owner_tag_and_no_check() -> None:
    content = render_issue(finding(), None, fingerprint(), tags={"team": "sec"}, owner_tag="team")
    assert content.assignee == "sec"
    assert f"--target {CHECK.id}" in content.body and "phiguard catalog" in content.body


def test_the_guard_finds_secrets_plain_or_basic_encoded_and_names_none() -> None:
    import base64

    assert_no_phi_or_secret({"a": "fine"}, secrets=[TOKEN, PAT, ""])
    for leaked in (
        f"token {TOKEN}",
        {"h": "Basic " + base64.b64encode(f":{PAT}".encode()).decode()},
    ):
        with pytest.raises(PhiLeak) as raised:
            assert_no_phi_or_secret(leaked, secrets=[TOKEN, PAT])
        assert TOKEN not in str(raised.value) and PAT not in str(raised.value)
    with pytest.raises(PhiLeak):
        assert_no_phi_or_secret(b"patient JANE", forbidden=FORBIDDEN)
