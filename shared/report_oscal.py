"""OSCAL 1.1.2 *Assessment Results* (JSON) of a scan or of the stored state, for compliance tools
(``phiguard scan|status|evaluate --output DIR --output-formats oscal``, ``status --format oscal``).

One ``assessment-results`` document with one ``result`` per report, in the shape of NIST's
published schema ``oscal_assessment-results_schema.json`` v1.1.2 and the official example
``examples/ar/json/ifa_assessment-results-example.json`` (usnistgov/oscal-content):

* **findings**, one per HIPAA Security Rule section the report's checks cite. The target is the
  section as an ``objective-id`` token (``164.312(e)(1)`` → ``hipaa-164.312-e-1``; the citation
  itself is in the title and a ``hipaa-citation`` prop), ``satisfied`` only when every applicable
  check on every resource passed. A FAIL or a MUTED result makes it ``not-satisfied`` (reason
  ``fail``); an ERROR or NOT_ASSESSED one, with nothing failing, makes it ``not-satisfied``
  (reason ``other``: it could not be shown satisfied). A section with only NOT_APPLICABLE results
  gets no finding (nothing was there to test) and is named in the result's remarks.
* **observations**: every result other than PASS and NOT_APPLICABLE is an observation of its own
  (method ``TEST``, the Azure resource as its subject, the reason and the evidence as relevant
  evidence, ``collected`` the evaluation time); PASS and NOT_APPLICABLE results are summarized,
  one observation per check and status with the count, so the document grows with what needs
  attention, not with the estate. CLOSED / RESOURCE_DELETED rows (``status --status CLOSED``)
  are observations of type ``historic`` and count towards no finding.
* **subjects**: a subject must reference something by UUID, so each resource an observation names
  is an ``inventory-item`` in the result's ``local-definitions`` (its resource id as the OSCAL
  ``asset-id`` prop). phiguard itself is the assessment platform's tool component and the
  ``origins`` actor of every observation, risk and finding.
* **muted findings** stay visible: the observation says MUTED and names the rule, the section's
  finding stays ``not-satisfied``, and each muted result is a ``risk`` with status
  ``deviation-approved`` (the accepted risk: rule, approver, end date and the rule's reason).
* **import-ap**: phiguard has no separate OSCAL assessment plan; the plan it follows is its
  built-in check catalog (``phiguard catalog``) narrowed by the run's check selection. ``href``
  (required by the schema) is therefore the fragment ``#<uuid>`` of a ``back-matter`` resource of
  this document that describes that catalog, and ``import-ap.remarks`` says so: a tool that needs
  a separate plan document will not find one. OSCAL documents its hrefs as "an internet
  resource, or a local reference using a fragment e.g. #fragment that points to a back-matter
  resource in the same document" (OSCAL model reference, ``links/href``, usnistgov/OSCAL
  ``docs/content/reference``); the v1.1.2 schema types ``import-ap.href`` as a URI reference.

UUIDs are version 5, derived from stable content (a resource id, a check id, a citation), so two
reports of the same state name the same observations, findings and risks alike; the document and
result UUIDs derive from the whole result and the generation time. Props phiguard defines carry
the namespace :data:`PHIGUARD_NS` (a name, not a locator), as OSCAL's extension rules ask.

Everything that came from Azure (names, ids, reasons, evidence) passes through
``shared.safe_text.inert`` (control and bidi characters shown as escapes, never sent) and is cut
to a bounded length; fields of the schema's ``StringDatatype`` (prop values) are single-line and
trimmed as its pattern requires. No PHI: only resource metadata, as in the other reports.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.kernel.findings import Status
from shared.kernel.hipaa import SECTIONS, sort_key
from shared.safe_text import inert

OSCAL_VERSION = "1.1.2"
FILE_NAME = "phiguard-assessment-results.oscal.json"
# The namespace of the props phiguard defines (OSCAL: a prop outside OSCAL's own names carries
# an ``ns`` URI "qualifying the property's name"). A URN: it names, it does not resolve.
PHIGUARD_NS = "urn:phiguard:oscal"
HIPAA_RULE = "HIPAA Security Rule (45 CFR Part 164, Subpart C)"

# The root of every UUID of the document (RFC 4122 name-based, SHA-1: version 5).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, PHIGUARD_NS)
_SUMMARIZED = frozenset({Status.PASS.value, Status.NOT_APPLICABLE.value})
_FAILING = frozenset({Status.FAIL.value, Status.MUTED.value})
_INACTIVE = frozenset({"CLOSED", "RESOURCE_DELETED"})  # shared.state.model.INACTIVE_STATUSES
_TITLE_LIMIT = 512
_TEXT_LIMIT = 4000
_VALUE_LIMIT = 2048
_TOKEN_DROP = re.compile(r"[^A-Za-z0-9._-]+")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")  # an ASCII subset of the schema's token


def citation_token(citation: str) -> str:
    """A HIPAA citation as an OSCAL token (XML NCName): ``164.312(a)(2)(iv)`` becomes
    ``hipaa-164.312-a-2-iv``. The schema's token pattern allows no parentheses."""
    body = _TOKEN_DROP.sub("-", citation.replace(")", " ").strip()).strip("-.").lower()
    return f"hipaa-{body}" if body else "hipaa"


def oscal_uuid(*parts: str) -> str:
    """A version 5 UUID of ``parts``: the same parts give the same UUID in every report."""
    return str(uuid.uuid5(_NAMESPACE, "\n".join(parts)))


def _text(value: object, limit: int = _TEXT_LIMIT) -> str:
    """Data as inert, single-line text of at most ``limit`` characters."""
    out = inert("" if value is None else value).strip()
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def _string(value: object, limit: int = _VALUE_LIMIT, default: str = "(none)") -> str:
    """A value of the schema's ``StringDatatype``: non-empty, no whitespace at either end, one
    line (``inert`` has already turned every line break into a visible escape)."""
    return _text(value, limit) or default


def _prop(name: str, value: object, *, ns: str | None = PHIGUARD_NS) -> dict[str, str]:
    prop = {"name": name, "value": _string(value)}
    if ns:
        prop["ns"] = ns
    return prop


def _time(value: object, default: datetime) -> datetime:
    """An ISO 8601 time of the store (one without an offset is UTC); ``default`` when absent,
    unreadable or outside the years the schema's date-time pattern allows (1900-2999)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
    else:
        return default
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        year = parsed.astimezone(UTC).year
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        return default
    return parsed if 1900 <= year <= 2999 else default


def _stamp(at: datetime) -> str:
    """RFC 3339 in UTC with the zone (``Z``): the schema's ``DateTimeWithTimezoneDatatype``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _product_version() -> str | None:
    try:
        return importlib.metadata.version("phiguard")
    except importlib.metadata.PackageNotFoundError:
        return None


def _section_title(citation: str) -> str:
    known = SECTIONS.get(citation)
    name = f" {known.name} ({known.kind})" if known else ""
    return _text(f"45 CFR {citation}{name}", _TITLE_LIMIT)


def _resource_name(resource_id: str) -> str:
    parts = [p for p in resource_id.split("/") if p]
    return parts[-1] if parts else resource_id


def _status_counts(counts: Mapping[str, int]) -> str:
    order = ("FAIL", "MUTED", "ERROR", "NOT_ASSESSED", "PASS", "NOT_APPLICABLE")
    keys = [s for s in order if counts.get(s)] + sorted(s for s in counts if s not in order)
    return ", ".join(f"{counts[s]} {s}" for s in keys) or "none"


class _Builder:
    """Builds one result from report rows (``shared.report_files.report_rows``)."""

    def __init__(self, generated_at: datetime) -> None:
        self.generated_at = generated_at
        self.tool = oscal_uuid("component", "phiguard")
        self.origins = [{"actors": [{"type": "tool", "actor-uuid": self.tool}]}]
        self.observations: list[dict[str, Any]] = []
        self.risks: list[dict[str, Any]] = []
        self.inventory: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        # citation -> status counts, related observation and risk uuids
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.related: dict[str, dict[str, None]] = defaultdict(dict)  # an ordered set
        self.related_risks: dict[str, list[str]] = defaultdict(list)
        self.rules: dict[str, set[str]] = defaultdict(set)
        self.times: list[datetime] = []

    def _unique(self, *parts: str) -> str:
        """A v5 UUID of ``parts``; a second row with the same parts (a resource id repeated in
        other letter case) gets the next one, never a duplicate."""
        candidate, n = oscal_uuid(*parts), 1
        while candidate in self.seen:
            n += 1
            candidate = oscal_uuid(*parts, str(n))
        self.seen.add(candidate)
        return candidate

    def _subject(self, row: Mapping[str, Any]) -> dict[str, Any]:
        resource_id = str(row.get("resource_id") or "")
        key = resource_id.lower()
        item = self.inventory.get(key)
        if item is None:
            props = [
                _prop("asset-id", resource_id, ns=None),
                _prop("resource-type", row.get("resource_type")),
                _prop("phi", "true" if row.get("phi") else "false"),
            ]
            item = {
                "uuid": oscal_uuid("inventory-item", key),
                "description": _text(
                    f"Azure resource {_resource_name(resource_id)} "
                    f"({row.get('resource_type') or 'unknown type'})",
                    _TITLE_LIMIT,
                ),
                "props": props,
            }
            self.inventory[key] = item
        return {
            "subject-uuid": item["uuid"],
            "type": "inventory-item",
            "title": _string(resource_id),
        }

    def _cite(self, row: Mapping[str, Any], status: str, observation: str) -> list[str]:
        citations = [str(c) for c in row.get("hipaa") or ()]
        for citation in citations:
            self.counts[citation][status] += 1
            self.related[citation][observation] = None
        return citations

    def observe(self, row: Mapping[str, Any]) -> None:
        """One observation for a result that is neither PASS nor NOT_APPLICABLE."""
        status = str(row.get("status") or "")
        resource_id = str(row.get("resource_id") or "")
        check_id = str(row.get("check_id") or "")
        collected = _time(row.get("last_evaluated_at"), self.generated_at)
        self.times.append(collected)
        uid = self._unique("observation", resource_id.lower(), check_id)
        inactive = status in _INACTIVE
        citations = [] if inactive else self._cite(row, status, uid)
        props = [
            _prop("check-id", check_id),
            _prop("status", status),
            _prop("severity", row.get("severity")),
            *(_prop("hipaa-citation", c) for c in row.get("hipaa") or ()),
        ]
        evidence = row.get("evidence") or {}
        relevant: dict[str, Any] = {"description": _text(row.get("reason")) or "(no reason)"}
        if evidence:
            relevant["remarks"] = _text(json.dumps(evidence, sort_keys=True, default=str))
        observation: dict[str, Any] = {
            "uuid": uid,
            "title": _text(f"{check_id} {status}: {_resource_name(resource_id)}", _TITLE_LIMIT),
            "description": _text(row.get("title") or check_id, _TITLE_LIMIT),
            "props": props,
            "methods": ["TEST"],
            "types": ["historic"] if inactive else ["finding"],
            "origins": self.origins,
            "subjects": [self._subject(row)],
            "relevant-evidence": [relevant],
            "collected": _stamp(collected),
        }
        rule = row.get("muted_by")
        if status == Status.MUTED.value:
            mute = evidence.get("muted_by") if isinstance(evidence, Mapping) else None
            mute = mute if isinstance(mute, Mapping) else {}
            rule_id = _string(rule or mute.get("rule"), _TITLE_LIMIT, "(unknown rule)")
            props.append(_prop("muted-by", rule_id))
            accepted = (
                f"The check failed; mute rule {rule_id} accepts the risk"
                f" until {_text(mute.get('until') or '(no end date)', 64)},"
                f" approved by {_text(mute.get('approver') or '(unknown)', _TITLE_LIMIT)}:"
                f" {_text(mute.get('reason') or '(no reason given)')}"
            )
            observation["remarks"] = (
                accepted + ". The requirement is not satisfied while the risk is accepted."
            )
            risk_uid = self._unique("risk", resource_id.lower(), check_id, rule_id)
            self.risks.append(
                {
                    "uuid": risk_uid,
                    "title": _text(
                        f"Accepted risk: {check_id} on {_resource_name(resource_id)}",
                        _TITLE_LIMIT,
                    ),
                    "description": _text(row.get("reason")) or "(no reason)",
                    "statement": accepted,
                    "props": [_prop("muted-by", rule_id), _prop("check-id", check_id)],
                    "status": "deviation-approved",
                    "origins": self.origins,
                    "related-observations": [{"observation-uuid": uid}],
                }
            )
            for citation in citations:
                self.related_risks[citation].append(risk_uid)
                self.rules[citation].add(rule_id)
        elif inactive:
            observation["remarks"] = (
                f"{status}: no longer a current result; counted towards no finding."
            )
        self.observations.append(observation)

    def summarize(self, check_id: str, status: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """One observation for every PASS (or NOT_APPLICABLE) result of one check."""
        collected = max(_time(r.get("last_evaluated_at"), self.generated_at) for r in rows)
        self.times.extend(_time(r.get("last_evaluated_at"), self.generated_at) for r in rows)
        uid = self._unique("summary", check_id, status)
        resources = len({str(r.get("resource_id") or "").lower() for r in rows})
        citations: list[str] = []
        for row in rows:
            for citation in self._cite(row, status, uid):
                if citation not in citations:
                    citations.append(citation)
        verb = "passed" if status == Status.PASS.value else "were not applicable to"
        self.observations.append(
            {
                "uuid": uid,
                "title": _text(f"{check_id} {status}: {len(rows)} result(s)", _TITLE_LIMIT),
                "description": _text(
                    f"{len(rows)} result(s) on {resources} resource(s) {verb} check "
                    f"{check_id} ({rows[0].get('title') or check_id}). Summarized: each "
                    "resource is in the JSON and CSV reports.",
                    _TEXT_LIMIT,
                ),
                "props": [
                    _prop("check-id", check_id),
                    _prop("status", status),
                    _prop("result-count", len(rows)),
                    _prop("resource-count", resources),
                    *(_prop("hipaa-citation", c) for c in sorted(citations, key=sort_key)),
                ],
                "methods": ["TEST"],
                "types": ["control-objective"],
                "origins": self.origins,
                "collected": _stamp(collected),
            }
        )

    def finding(self, citation: str) -> dict[str, Any] | None:
        counts = self.counts[citation]
        if any(counts[s] for s in _FAILING):
            state, reason = "not-satisfied", "fail"
        elif any(n for s, n in counts.items() if s not in _SUMMARIZED):
            state, reason = "not-satisfied", "other"
        elif counts[Status.PASS.value]:
            state, reason = "satisfied", "pass"
        else:
            return None  # only NOT_APPLICABLE: nothing was there to test
        token = citation_token(citation)
        title = _section_title(citation)
        described = f"{title}: {_status_counts(counts)} across the checks citing it. " + (
            "Satisfied: every applicable check passed."
            if state == "satisfied"
            else "Not satisfied: a check failed."
            if reason == "fail"
            else "Not satisfied: a check could not be judged (ERROR or NOT_ASSESSED), so "
            "the requirement is not shown satisfied."
        )
        out: dict[str, Any] = {
            "uuid": oscal_uuid("finding", token),
            "title": title,
            "description": _text(described),
            "props": [_prop("hipaa-citation", citation), _prop("hipaa-standard", HIPAA_RULE)],
            "origins": self.origins,
            "target": {
                "type": "objective-id",
                "target-id": token,
                "title": title,
                "status": {"state": state, "reason": reason},
            },
            "related-observations": [{"observation-uuid": u} for u in self.related[citation]],
        }
        if self.related_risks[citation]:
            out["related-risks"] = [{"risk-uuid": u} for u in self.related_risks[citation]]
            rules = ", ".join(sorted(self.rules[citation]))
            out["remarks"] = (
                f"{counts[Status.MUTED.value]} failure(s) are accepted risks (MUTED) under mute "
                f"rule(s) {rules}; muted failures do not satisfy the requirement."
            )
        return out


def assessment_results(
    rows: Sequence[Mapping[str, Any]], generated_at: datetime, scope: str = ""
) -> dict[str, Any]:
    """The OSCAL assessment-results document (a JSON object) of report rows."""
    builder = _Builder(generated_at)
    summaries: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        status = str(row.get("status") or "")
        if status in _SUMMARIZED:
            summaries[(str(row.get("check_id") or ""), status)].append(row)
        else:
            builder.observe(row)
    for (check_id, status), group in sorted(summaries.items()):
        builder.summarize(check_id, status, group)

    citations = sorted(builder.counts, key=lambda c: (sort_key(c), c))
    findings = [f for f in (builder.finding(c) for c in citations) if f is not None]
    untested = [c for c in citations if all(s in _SUMMARIZED for s in builder.counts[c])]
    untested = [c for c in untested if not builder.counts[c][Status.PASS.value]]
    totals = Counter(str(r.get("status") or "") for r in rows)
    resources = len({str(r.get("resource_id") or "").lower() for r in rows})
    start = min(builder.times, default=generated_at)
    end = max([*builder.times, start])

    version = _product_version()
    component_props = [_prop("version", version)] if version else []
    component: dict[str, Any] = {
        "uuid": builder.tool,
        "type": "software",
        "title": "phiguard",
        "description": "phiguard: automated HIPAA Security Rule checks of Azure resource "
        "configuration, read through Azure Resource Manager.",
        "status": {"state": "operational"},
    }
    if component_props:
        component["props"] = component_props
    local: dict[str, Any] = {
        "assessment-assets": {
            "components": [component],
            "assessment-platforms": [
                {
                    "uuid": oscal_uuid("assessment-platform", "phiguard"),
                    "title": "phiguard",
                    "uses-components": [{"component-uuid": builder.tool}],
                }
            ],
        }
    }
    if builder.inventory:
        local = {
            "inventory-items": [builder.inventory[k] for k in sorted(builder.inventory)],
            **local,
        }
    selection: dict[str, Any] = {
        "description": _text(
            f"The {HIPAA_RULE} sections cited by the checks evaluated ({scope or 'every check'})."
        )
    }
    if citations:
        selection["include-controls"] = [{"control-id": citation_token(c)} for c in citations]
    scope_text = _text(scope or "every check", _TITLE_LIMIT)
    result: dict[str, Any] = {
        "title": "phiguard HIPAA Security Rule assessment of Azure resources",
        "description": _text(
            f"Automated evaluation of {len(rows)} check result(s) on {resources} Azure "
            f"resource(s) against the {HIPAA_RULE}; scope: {scope_text}. Results: "
            f"{_status_counts(totals)}. Every result other than PASS and NOT_APPLICABLE is an "
            "observation of its own; PASS and NOT_APPLICABLE results are summarized per check. "
            "A section's finding is satisfied only when every applicable check passed; a muted "
            "failure is an approved deviation and leaves its section not satisfied.",
            _TEXT_LIMIT,
        ),
        "start": _stamp(start),
        "end": _stamp(end),
        "props": [
            _prop("result-count", len(rows)),
            _prop("resource-count", resources),
            *(
                _prop("status-count", n) | {"class": s}
                for s, n in sorted(totals.items())
                if _TOKEN.fullmatch(s)
            ),
        ],
        "local-definitions": local,
        "reviewed-controls": {"control-selections": [selection]},
    }
    if builder.observations:
        result["observations"] = builder.observations
    if builder.risks:
        result["risks"] = builder.risks
    if findings:
        result["findings"] = findings
    if untested:
        result["remarks"] = (
            "No applicable resource (only NOT_APPLICABLE results), so no finding, for: "
            + ", ".join(f"45 CFR {_text(c, 64)}" for c in untested)
            + "."
        )
    stamp = _stamp(generated_at)
    digest = hashlib.sha256(
        json.dumps([result, stamp, scope], sort_keys=True, default=str).encode()
    ).hexdigest()
    result = {"uuid": oscal_uuid("result", digest), **result}
    catalog = oscal_uuid("back-matter", "phiguard-check-catalog")
    metadata: dict[str, Any] = {
        "title": "phiguard HIPAA Security Rule assessment results",
        "last-modified": stamp,
        "version": stamp,
        "oscal-version": OSCAL_VERSION,
    }
    return {
        "assessment-results": {
            "uuid": oscal_uuid("assessment-results", digest),
            "metadata": metadata,
            "import-ap": {
                "href": f"#{catalog}",
                "remarks": "phiguard publishes no separate OSCAL assessment plan: the plan is "
                "its built-in check catalog (phiguard catalog), narrowed by the check selection "
                "of the run. The href names the back-matter resource that describes it.",
            },
            "results": [result],
            "back-matter": {
                "resources": [
                    {
                        "uuid": catalog,
                        "title": "phiguard check catalog (the assessment plan)",
                        "description": "The checks phiguard runs, each citing the HIPAA "
                        "Security Rule sections it tests; `phiguard catalog` lists them with "
                        "their metadata. The result's reviewed-controls name the sections the "
                        f"evaluated checks cite; scope of this run: {scope_text}.",
                        **({"props": component_props} if component_props else {}),
                    }
                ]
            },
        }
    }


def oscal_report(rows: Sequence[Mapping[str, Any]], generated_at: datetime, scope: str = "") -> str:
    """The OSCAL assessment-results document as JSON text. Written compactly (one line) by the
    standard library's C encoder; ``json.dumps(..., indent=2)`` would take the pure-Python one."""
    return json.dumps(assessment_results(rows, generated_at, scope), default=str) + "\n"
