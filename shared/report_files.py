"""Report files of a scan or of the stored state (``phiguard scan|status --output DIR``): CSV,
JSON, JSON-OCSF and a self-contained HTML summary, one finding per resource and check, and an
OSCAL 1.1.2 Assessment Results document (``shared.report_oscal``).

Everything in them that came from Azure (names, tags, reasons, evidence) is data: the CSV's
cells are terminal-safe and never start a spreadsheet formula (``shared.safe_text.csv_cell``),
the HTML is rendered by Jinja2 with autoescaping on and holds no script and no external
reference (inline CSS only), JSON is ``json.dumps``.

JSON-OCSF: one OCSF *Compliance Finding* (class_uid 2003, category Findings) per finding, OCSF
schema version :data:`OCSF_VERSION`, with the finding's HIPAA citations as the compliance
object's ``requirements`` under the standard ``HIPAA Security Rule``, the check id as its
``control`` and PASS / FAIL / the rest as its ``status_id`` 1 Pass / 3 Fail / 2 Warning; a
muted finding is a FAIL someone accepted: compliance ``status_id`` 3 Fail, the finding's
``status_id`` 3 Suppressed, its rule named in ``status_details`` and ``unmapped.muted_by``.
Captions are OCSF's (``severity`` "Informational" for ``severity_id`` 1); the subscription is
``cloud.account`` of ``type_id`` 13 "Azure Subscription".
(https://schema.ocsf.io/1.5.0/classes/compliance_finding, objects compliance, account, cloud.)
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.metadata
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.kernel.findings import Severity, Status
from shared.kernel.hipaa import SECTIONS, sort_key
from shared.mutes import muted_by
from shared.safe_text import csv_cell, inert

FORMATS = ("csv", "json", "ocsf", "html", "oscal")
FILE_NAMES = {
    "csv": "phiguard-findings.csv",
    "json": "phiguard-findings.json",
    "ocsf": "phiguard-findings.ocsf.json",
    "html": "phiguard-report.html",
    "oscal": "phiguard-assessment-results.oscal.json",  # shared.report_oscal.FILE_NAME
}
OCSF_VERSION = "1.5.0"
HIPAA_STANDARD = "HIPAA Security Rule (45 CFR Part 164, Subpart C)"
REPORT_FIELDS = (
    "resource_id",
    "resource_type",
    "check_id",
    "service",
    "status",
    "muted_by",
    "severity",
    "hipaa",
    "title",
    "reason",
    "evidence",
    "phi",
    "first_failed_at",
    "last_changed_at",
    "last_evaluated_at",
)
# OCSF severity_id and its caption (dictionary ``severity_id``): 1 is "Informational", not "Info".
_OCSF_SEVERITY = {
    Severity.INFO.value: (1, "Informational"),
    Severity.LOW.value: (2, "Low"),
    Severity.MEDIUM.value: (3, "Medium"),
    Severity.HIGH.value: (4, "High"),
    Severity.CRITICAL.value: (5, "Critical"),
}
# OCSF account type_id 13 "Azure Subscription" (6 "Azure AD Account" is an Entra ID user).
_OCSF_AZURE_SUBSCRIPTION = (13, "Azure Subscription")


def report_rows(findings: Iterable[Any]) -> list[dict[str, Any]]:
    """Findings (``Finding``) or stored findings (``StoredFinding``) as the report's rows: their
    JSON plus the check's service and the mute rule, if any."""
    from checks import CATALOG

    rows: list[dict[str, Any]] = []
    for item in findings:
        row = dict(item.to_json())
        check = CATALOG.get(row["check_id"])
        row["service"] = check.service if check is not None else "phiguard"
        row["muted_by"] = muted_by(row.get("evidence"))
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r["resource_id"]).lower(), str(r["check_id"])))


def csv_report(rows: Sequence[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_FIELDS)
    for row in rows:
        writer.writerow([csv_cell(_cell(row.get(k))) for k in REPORT_FIELDS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _json_array(items: Iterable[Any]) -> str:
    """A JSON array with one item per line. ``json.dumps(..., indent=2)`` of the whole array
    runs the standard library's pure-Python encoder (the C one only writes without an indent):
    3 s of a scan's 9 for the JSON and OCSF files of 7,919 findings; each item written compactly
    by the C encoder, joined by lines, reads as well and parses the same."""
    lines = [json.dumps(item, default=str) for item in items]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def json_report(rows: Sequence[Mapping[str, Any]]) -> str:
    return _json_array(rows)


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _parse_time(value: object, default: datetime) -> datetime:
    """An ISO 8601 time of the store; one without an offset is UTC (never the host's zone:
    OCSF timestamps are milliseconds since the epoch, UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return default


@functools.cache
def _product_version() -> str | None:
    try:
        return importlib.metadata.version("phiguard")
    except importlib.metadata.PackageNotFoundError:
        return None


def _ocsf_product() -> dict[str, str]:
    """OCSF ``metadata.product``: name, vendor and, when installed as a package, its version."""
    product = {"name": "phiguard", "vendor_name": "phiguard", "uid": "phiguard"}
    version = _product_version()
    if version:
        product["version"] = version
    return product


# The Azure clouds by their ARM host, named as Azure names them (``az cloud list``): OCSF's
# ``cloud_partition`` is "the canonical cloud partition name to which the region is assigned".
_CLOUD_PARTITIONS = {
    "management.azure.com": "AzureCloud",
    "management.usgovcloudapi.net": "AzureUSGovernment",
    "management.chinacloudapi.cn": "AzureChinaCloud",
}


def cloud_partition(arm_url: str) -> str | None:
    """The Azure cloud an ARM endpoint belongs to; None for another host (the simulated
    tenant, Azure Stack): a report then leaves the partition out rather than guess it."""
    host = (urlsplit(arm_url).hostname or "").lower().rstrip(".")
    return _CLOUD_PARTITIONS.get(host)


def ocsf_finding(
    row: Mapping[str, Any], generated_at: datetime, partition: str | None = "AzureCloud"
) -> dict[str, Any]:
    """One OCSF Compliance Finding (class 2003) for a report row; ``partition``: the Azure
    cloud (:func:`cloud_partition`), None when unknown."""
    from checks import CATALOG

    status = str(row["status"])
    severity = str(row["severity"])
    resource_id = str(row["resource_id"])
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    subscription = parts[1] if len(parts) > 1 and lower[0] == "subscriptions" else ""
    group = parts[3] if len(parts) > 3 and lower[2] == "resourcegroups" else ""
    seen = _parse_time(row.get("last_evaluated_at"), generated_at)
    created = _parse_time(row.get("first_failed_at") or row.get("last_changed_at"), seen)
    uid = hashlib.sha256(f"{resource_id.lower()}\n{row['check_id']}".encode()).hexdigest()[:32]
    requirements = [f"45 CFR {c}" for c in row.get("hipaa") or ()]
    # OCSF compliance status_id: 1 Pass, 3 Fail "failed for at least one of the evaluated
    # resources", 2 Warning "did not yield a result due to missing information" (ERROR,
    # NOT_ASSESSED), 99 Other with the source's own label (NOT_APPLICABLE: nothing to judge, which
    # is no missing information). A MUTED finding did fail (the rule accepted the risk): Fail, and
    # the finding itself is Suppressed.
    compliance_status = {
        Status.PASS.value: (1, "Pass"),
        Status.FAIL.value: (3, "Fail"),
        Status.MUTED.value: (3, "Fail"),
        Status.NOT_APPLICABLE.value: (99, "Not Applicable"),
    }.get(status, (2, "Warning"))
    rule = row.get("muted_by")
    detail = str(row.get("reason") or "")
    finding_status = {
        Status.MUTED.value: (3, "Suppressed"),
        Status.PASS.value: (4, "Resolved"),
        Status.NOT_APPLICABLE.value: (99, "Not Applicable"),
    }.get(status, (1, "New"))
    compliance_detail = (f"Muted by {rule}: " if rule else "") + detail
    check = CATALOG.get(str(row["check_id"]))
    severity_id, severity_caption = _OCSF_SEVERITY.get(severity, (0, "Unknown"))
    out: dict[str, Any] = {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "type_uid": 200301,
        "type_name": "Compliance Finding: Create",
        "severity_id": severity_id,
        "severity": severity_caption,
        "status_id": finding_status[0],
        "status": finding_status[1],
        "status_code": status,
        "status_detail": detail,
        "message": str(row.get("title") or ""),
        "time": _epoch_ms(seen),
        "time_dt": seen.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "metadata": {
            "version": OCSF_VERSION,
            "product": _ocsf_product(),
            "event_code": str(row["check_id"]),
            # cloud: the ``cloud`` object; datetime: the ``time_dt`` sibling of ``time``.
            "profiles": ["cloud", "datetime"],
        },
        "cloud": {"provider": "Azure"},
        "finding_info": {
            "uid": f"phiguard-{uid}",
            "title": str(row.get("title") or row["check_id"]),
            "desc": detail,
            "types": ["HIPAA"],
            "created_time": _epoch_ms(created),
            "first_seen_time": _epoch_ms(created),
            "last_seen_time": _epoch_ms(seen),
        },
        "compliance": {
            "standards": [HIPAA_STANDARD],
            "requirements": requirements,
            "control": str(row["check_id"]),
            "status_id": compliance_status[0],
            "status": compliance_status[1],
            "status_code": status,
            # ``status_detail`` is deprecated since OCSF 1.4.0 for the list ``status_details``.
            "status_details": [compliance_detail] if compliance_detail else [],
        },
        "resources": [
            {
                "uid": resource_id,
                "name": parts[-1] if parts else resource_id,
                "type": str(row.get("resource_type") or ""),
                "labels": ["phi"] if row.get("phi") else [],
                "data": {"evidence": row.get("evidence") or {}},
            }
        ],
        "unmapped": {"phi": bool(row.get("phi")), "service": row.get("service")},
    }
    # OCSF account and group need a name or uid: none for a resource outside a subscription
    # (or a resource group).
    if subscription:
        out["cloud"]["account"] = {
            "uid": subscription,
            "name": subscription,
            "type": _OCSF_AZURE_SUBSCRIPTION[1],
            "type_id": _OCSF_AZURE_SUBSCRIPTION[0],
        }
    if partition:
        out["resources"][0]["cloud_partition"] = partition
    if group:
        out["resources"][0]["group"] = {"name": group}
    if rule:
        out["unmapped"]["muted_by"] = rule
    if check is not None and check.guidance:
        out["remediation"] = {"desc": check.guidance}
    return out


def ocsf_report(
    rows: Sequence[Mapping[str, Any]], generated_at: datetime, partition: str | None = "AzureCloud"
) -> str:
    return _json_array(ocsf_finding(r, generated_at, partition) for r in rows)


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#57606a}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top;
font-size:.9rem;overflow-wrap:anywhere}th{background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
.FAIL{color:#b42318;font-weight:600}.MUTED{color:#0e6e8c;font-weight:600}
.ERROR,.NOT_ASSESSED{color:#9a6700;font-weight:600}.PASS{color:#1a7f37}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;
padding:.6rem 1rem;min-width:7rem}.card b{display:block;font-size:1.4rem}
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">Generated {{ generated }} by phiguard &middot; {{ total }} findings on
{{ resources }} resources &middot; scope: {{ scope }}</p>
<div class="cards">{% for status, n in totals %}<div class="card"><span class="{{ status }}">
{{ status }}</span><b>{{ n }}</b></div>{% endfor %}</div>
<h2>By HIPAA section</h2>
<table><tr><th>Section</th><th>Name</th>{% for s in columns %}<th class="num">{{ s }}</th>
{% endfor %}</tr>{% for row in by_section %}<tr><td>&sect;{{ row.key }}</td><td>{{ row.name }}</td>
{% for s in columns %}<td class="num">{{ row.counts.get(s, 0) }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>By service</h2>
<table><tr><th>Service</th>{% for s in columns %}<th class="num">{{ s }}</th>{% endfor %}</tr>
{% for row in by_service %}<tr><td>{{ row.key }}</td>{% for s in columns %}
<td class="num">{{ row.counts.get(s, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2>By severity</h2>
<table><tr><th>Severity</th>{% for s in columns %}<th class="num">{{ s }}</th>{% endfor %}</tr>
{% for row in by_severity %}<tr><td>{{ row.key }}</td>{% for s in columns %}
<td class="num">{{ row.counts.get(s, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2>Findings that need attention ({{ attention|length }})</h2>
{% if attention %}<table><tr><th>Severity</th><th>Status</th><th>Resource</th><th>Check</th>
<th>HIPAA</th><th>Reason</th></tr>{% for r in attention %}<tr><td>{{ r.severity }}</td>
<td class="{{ r.status }}">{{ r.status }}{% if r.muted_by %}<br>rule {{ r.muted_by }}{% endif %}
</td><td>{{ r.resource_id }}{% if r.phi %} (PHI){% endif %}</td><td>{{ r.check_id }}</td>
<td>{{ r.hipaa|join(", ") }}</td><td>{{ r.reason }}</td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
</body></html>
"""

_STATUS_ORDER = ("FAIL", "MUTED", "ERROR", "NOT_ASSESSED", "PASS", "NOT_APPLICABLE")


def html_report(rows: Sequence[Mapping[str, Any]], generated_at: datetime, scope: str) -> str:
    import jinja2

    # Every value shown is made inert first (control and direction characters as escapes: a
    # U+202E in a resource name would make the page show something Azure does not hold), then
    # HTML-escaped by autoescaping.
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: inert(value) if isinstance(value, str) else value,
    )
    totals = Counter(str(r["status"]) for r in rows)
    columns = [s for s in _STATUS_ORDER if totals.get(s)] + sorted(
        s for s in totals if s not in _STATUS_ORDER
    )
    sections: dict[str, Counter[str]] = defaultdict(Counter)
    services: dict[str, Counter[str]] = defaultdict(Counter)
    severities: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        for citation in r.get("hipaa") or ():
            sections[str(citation)][str(r["status"])] += 1
        services[str(r.get("service"))][str(r["status"])] += 1
        severities[str(r["severity"])][str(r["status"])] += 1
    severity_order = [s.value for s in Severity]
    attention = sorted(
        (r for r in rows if r["status"] in ("FAIL", "MUTED", "ERROR", "NOT_ASSESSED")),
        key=lambda r: (
            _STATUS_ORDER.index(str(r["status"])),
            severity_order.index(str(r["severity"])) if r["severity"] in severity_order else 9,
            str(r["resource_id"]).lower(),
        ),
    )
    return env.from_string(_HTML).render(
        title="phiguard HIPAA compliance report",
        generated=generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        total=len(rows),
        resources=len({str(r["resource_id"]).lower() for r in rows}),
        scope=scope,
        totals=[(s, totals[s]) for s in columns],
        columns=columns,
        by_section=[
            {"key": k, "name": SECTIONS[k].name if k in SECTIONS else "", "counts": sections[k]}
            for k in sorted(sections, key=sort_key)
        ],
        by_service=[{"key": k, "counts": services[k]} for k in sorted(services)],
        by_severity=[
            {"key": k, "counts": severities[k]}
            for k in sorted(severities, key=lambda s: severity_order.index(s))
        ],
        attention=attention,
    )


def write_reports(
    directory: Path,
    findings: Iterable[Any],
    *,
    formats: Sequence[str] = FORMATS,
    generated_at: datetime | None = None,
    scope: str = "",
    partition: str | None = "AzureCloud",
) -> list[Path]:
    """Writes the report files into ``directory`` (created if missing); returns their paths.
    ``partition``: the Azure cloud of the findings (OCSF), None when unknown."""
    generated_at = generated_at or datetime.now(UTC)
    rows = report_rows(findings)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in formats:
        if fmt == "csv":
            body = csv_report(rows)
        elif fmt == "json":
            body = json_report(rows)
        elif fmt == "ocsf":
            body = ocsf_report(rows, generated_at, partition)
        elif fmt == "html":
            body = html_report(rows, generated_at, scope)
        elif fmt == "oscal":
            from shared.report_oscal import oscal_report

            body = oscal_report(rows, generated_at, scope)
        else:
            raise ValueError(f"unknown report format {fmt!r}")
        path = directory / FILE_NAMES[fmt]
        path.write_text(body, encoding="utf-8")
        written.append(path)
    return written
