"""The weekly access review as a document: JSON (the faithful form, and what next week diffs
against), CSV (one row per (principal, role, scope) path, with the reviewer's decision and
comment columns) and a self-contained HTML page (inline CSS, inline SVG charts, a few lines of
inline script to sort tables; no CDN; printable).

Every value from Azure is data: the HTML is rendered by Jinja2 with autoescape on, CSV cells
go through :func:`shared.safe_text.csv_cell` (control characters shown, a leading ``'`` where a
spreadsheet would start a formula). Resource metadata and principal names only: no PHI, no
secrets.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.access.model import ReviewData, removed_paths, scope_kind
from shared.access.rules import RULES, ReviewContext, RuleResult
from shared.kernel.findings import Status
from shared.safe_text import csv_cell

FORMAT = "phiguard-access-review"
VERSION = 1
CSV_COLUMNS = (
    "week",
    "path_key",
    "principal_id",
    "principal_name",
    "principal_kind",
    "upn",
    "role",
    "privileged",
    "scope",
    "scope_kind",
    "access",
    "via_group",
    "assignment_id",
    "created_on",
    "last_sign_in",
    "new",
    "findings",
    "decision",
    "comment",
)
DECISIONS = ("keep", "remove", "justify")


def build_review(
    data: ReviewData,
    results: Sequence[RuleResult],
    ctx: ReviewContext,
    week: str,
    trend: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The review as JSON-ready data."""
    by_subject: dict[str, list[str]] = {}
    for result in results:
        if result.status == Status.FAIL:
            for subject in result.subjects:
                by_subject.setdefault(subject.key.lower(), []).append(result.rule_id)
    previous = data.previous
    rows: list[dict[str, Any]] = []
    for path in data.paths:
        principal = data.directory.find(path.principal_id)
        role = data.role(path.grant)
        findings = sorted(
            set(
                by_subject.get(path.key.lower(), [])
                + by_subject.get(path.grant.id.lower(), [])
                + (by_subject.get(path.grant.role_guid, []) if path.grant.role_guid else [])
            )
        )
        rows.append(
            {
                "key": path.key,
                "principal_id": path.principal_id,
                "principal_name": principal.display_name if principal else "",
                "principal_kind": principal.label if principal else _kind_of(path, data),
                "upn": principal.upn if principal else "",
                "role": path.role,
                "privileged": bool(role and role.privileged)
                or _broad_policy(path.grant.permissions),
                "scope": path.scope,
                "scope_kind": scope_kind(path.scope),
                "access": path.grant.access,
                "via_group": path.via_group,
                "assignment_id": path.grant.id,
                "created_on": path.grant.created_on,
                "last_sign_in": _last_sign_in(principal, path, data),
                "new": previous is not None and path.key not in previous,
                "findings": findings,
            }
        )
    gone, _unseen = removed_paths(data)
    removed = [dict(previous[key], key=key) for key in sorted(gone)] if previous else []
    rules: list[dict[str, Any]] = []
    for result in results:
        meta = RULES[result.rule_id]
        rules.append(
            {
                **result.to_json(),
                "title": meta.title,
                "severity": str(meta.severity),
                "hipaa": list(meta.hipaa),
            }
        )
    failing = [r for r in rules if r["status"] == Status.FAIL and r["severity"] != "INFO"]
    summary = {
        "week": week,
        "paths": len(rows),
        "principals": len({r["principal_id"] for r in rows}),
        "privileged_paths": sum(1 for r in rows if r["privileged"]),
        "standing_privileged": sum(
            1 for r in rows if r["privileged"] and r["access"] == "standing"
        ),
        "new": sum(1 for r in rows if r["new"]),
        "removed": len(removed),
        "failing_rules": len(failing),
        "failing_subjects": sum(len(r["subjects"]) for r in failing),
        "not_assessed_rules": sum(1 for r in rules if r["status"] == Status.NOT_ASSESSED),
        "unknowns": len(data.unknowns),
        "missing_permissions": sorted(data.directory.missing_permissions),
        "first_review": previous is None,
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "week": week,
        "generated_at": ctx.now.isoformat(),
        "inactive_days": ctx.inactive_days,
        "subscriptions": list(data.subscriptions),
        "phi_scopes": list(data.phi_scopes),
        "self_ids": sorted(data.self_ids),
        "summary": summary,
        "trend": [*[t for t in trend if t.get("week") != week], _trend_point(summary)][-12:],
        "rules": rules,
        "paths": rows,
        "removed": removed,
        "unknowns": [u.to_json() for u in data.unknowns],
        "errors": list(data.errors),
    }


def _trend_point(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: summary[k]
        for k in ("week", "paths", "privileged_paths", "failing_subjects", "new", "removed")
    }


def _last_sign_in(principal: Any, path: Any, data: ReviewData) -> str:
    """A user's last sign-in, "never", or "unknown" (not read); "" for what is no user or is
    deleted."""
    if principal is None:
        exists = data.directory.exists(path.principal_id, path.grant.principal_type)
        return "unknown" if exists is None and path.grant.principal_type == "User" else ""
    if principal.kind != "User":
        return ""
    if not principal.sign_in_known:
        return "unknown"
    return principal.last_sign_in.isoformat() if principal.last_sign_in else "never"


def _kind_of(path: Any, data: ReviewData) -> str:
    exists = data.directory.exists(path.principal_id, path.grant.principal_type)
    if exists is False:
        return "Deleted"
    return f"{path.grant.principal_type} (unknown)" if exists is None else path.grant.principal_type


def _broad_policy(permissions: Mapping[str, Sequence[str]]) -> bool:
    from shared.access.model import broad_permissions

    return bool(broad_permissions(permissions))


def previous_index(review: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Last review's paths by key (what "new" and "removed" compare against)."""
    return {
        str(row["key"]): {
            k: row.get(k)
            for k in ("principal_id", "principal_name", "role", "scope", "access", "via_group")
        }
        for row in review.get("paths") or []
        if isinstance(row, Mapping) and isinstance(row.get("key"), str)
    }


def to_csv(review: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in review["paths"]:
        values = {
            **row,
            "week": review["week"],
            "path_key": row["key"],
            "findings": " ".join(row["findings"]),
            "privileged": "yes" if row["privileged"] else "no",
            "new": "yes" if row["new"] else "no",
            "decision": "",
            "comment": "",
        }
        writer.writerow([csv_cell(values.get(c, "")) for c in CSV_COLUMNS])
    return out.getvalue()


# --- HTML ---------------------------------------------------------------------------------

_PALETTE = ("#b91c1c", "#c2410c", "#a16207", "#15803d", "#0e7490", "#1d4ed8", "#7e22ce")


def _bars(counts: Mapping[str, int], width: int = 520, bar: int = 18) -> dict[str, Any]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
    top = max((n for _, n in items), default=0) or 1
    label_w = 230
    rows = [
        {
            "label": label[:40],
            "n": n,
            "y": i * (bar + 6),
            "w": max(1, round((width - label_w - 50) * n / top)),
            "color": _PALETTE[i % len(_PALETTE)],
        }
        for i, (label, n) in enumerate(items)
    ]
    return {
        "rows": rows,
        "height": max(30, len(rows) * (bar + 6)),
        "width": width,
        "label_w": label_w,
        "bar": bar,
    }


def _trend(
    points: Sequence[Mapping[str, Any]], width: int = 520, height: int = 180
) -> dict[str, Any]:
    series = [
        ("paths", "#1d4ed8"),
        ("privileged_paths", "#b91c1c"),
        ("failing_subjects", "#a16207"),
    ]
    top = max([int(p.get(k) or 0) for p in points for k, _ in series] + [1])
    n = max(len(points), 1)
    step = (width - 90) / max(n - 1, 1)

    def xy(i: int, v: int) -> tuple[float, float]:
        return 40 + i * step, height - 25 - (height - 45) * v / top

    lines = []
    for key, color in series:
        coords = [xy(i, int(p.get(key) or 0)) for i, p in enumerate(points)]
        lines.append(
            {
                "key": key,
                "color": color,
                "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
                "dots": [{"x": round(x, 1), "y": round(y, 1)} for x, y in coords],
            }
        )
    labels = [
        {"x": round(xy(i, 0)[0], 1), "week": str(p.get("week", ""))} for i, p in enumerate(points)
    ]
    return {"lines": lines, "labels": labels, "width": width, "height": height, "top": top}


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phiguard access review {{ review.week }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#111827}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}
.meta{color:#4b5563}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #d1d5db;border-radius:6px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:20px}.fail{color:#b91c1c}.pass{color:#15803d}.na{color:#a16207}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #e5e7eb;padding:4px 6px;
text-align:left;vertical-align:top;font-size:12.5px;word-break:break-word}
th{background:#f3f4f6;cursor:pointer;user-select:none}th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"}td.st{white-space:nowrap}tr.new td{background:#fefce8}
.charts{display:flex;flex-wrap:wrap;gap:24px}.chart{flex:1 1 520px}
.unknown{background:#fff7ed;border:1px solid #fdba74;padding:8px 12px;border-radius:6px}
.signoff td{height:34px}
@media print{body{margin:8mm}th{cursor:auto}.noprint{display:none}h2{break-after:avoid}
tr{break-inside:avoid}}
</style></head><body>
<h1>Weekly access review — {{ review.week }}</h1>
<p class="meta">Generated {{ review.generated_at }} by phiguard · subscriptions:
{{ review.subscriptions|join(", ") }} · {{ review.phi_scopes|length }} PHI scope(s) ·
HIPAA 164.308(a)(3)(ii)(B), 164.308(a)(4)(ii)(B)–(C), 164.308(a)(1)(ii)(D)
{% if review.coverage %}<br>Read: {{ review.coverage.grants_read }} grants (role assignments, PIM
eligibilities, vault access policies), {{ review.coverage.role_definitions }} role definitions,
{{ review.coverage.phi_vaults }} PHI key vaults, {{ review.coverage.directory_objects }} directory
objects, {{ review.coverage.groups_expanded }} groups expanded to members
({{ review.coverage.arm_calls }} ARM and {{ review.coverage.graph_calls }} Graph calls){% endif %}
{% if review.previous_week %} · compared with {{ review.previous_week }}{% else %} · first review: nothing to compare with{% endif %}</p>
<div class="cards">
{% for label, key in [("paths to PHI","paths"),("principals","principals"),("privileged paths","privileged_paths"),("standing privileged","standing_privileged"),("new","new"),("removed","removed"),("failing rules","failing_rules"),("unknowns","unknowns")] %}
<div class="card"><b>{{ s[key] }}</b>{{ label }}</div>{% endfor %}
</div>
{% if review.unknowns %}<div class="unknown"><b>What this review could not see</b> (never guessed):
<ul>{% for u in review.unknowns %}<li>{{ u.what }} — {{ u.why }}</li>{% endfor %}</ul></div>{% endif %}
<h2>Charts</h2><div class="charts">
{% for title, chart in [("Privileged paths by role", by_role), ("Privileged paths by scope", by_scope)] %}
<div class="chart"><h3>{{ title }}</h3>
<svg role="img" aria-label="{{ title }}" width="{{ chart.width }}" height="{{ chart.height }}" viewBox="0 0 {{ chart.width }} {{ chart.height }}">
{% for r in chart.rows %}<text x="0" y="{{ r.y + 13 }}" font-size="11">{{ r.label }}</text>
<rect x="{{ chart.label_w }}" y="{{ r.y }}" width="{{ r.w }}" height="{{ chart.bar }}" fill="{{ r.color }}"></rect>
<text x="{{ chart.label_w + r.w + 4 }}" y="{{ r.y + 13 }}" font-size="11">{{ r.n }}</text>{% endfor %}
{% if not chart.rows %}<text x="0" y="18" font-size="12">none</text>{% endif %}
</svg></div>{% endfor %}
<div class="chart"><h3>Trend, last {{ trend.labels|length }} week(s)</h3>
<svg role="img" aria-label="trend" width="{{ trend.width }}" height="{{ trend.height }}" viewBox="0 0 {{ trend.width }} {{ trend.height }}">
<line x1="40" y1="{{ trend.height - 25 }}" x2="{{ trend.width - 20 }}" y2="{{ trend.height - 25 }}" stroke="#9ca3af"></line>
<text x="0" y="24" font-size="10">{{ trend.top }}</text>
{% for l in trend.lines %}<polyline fill="none" stroke="{{ l.color }}" stroke-width="2" points="{{ l.points }}"></polyline>
{% for d in l.dots %}<circle cx="{{ d.x }}" cy="{{ d.y }}" r="3" fill="{{ l.color }}"></circle>{% endfor %}{% endfor %}
{% for lb in trend.labels %}<text x="{{ lb.x }}" y="{{ trend.height - 8 }}" font-size="9" text-anchor="middle">{{ lb.week }}</text>{% endfor %}
</svg><p style="font-size:11px"><span style="color:#1d4ed8">■ paths</span> <span style="color:#b91c1c">■ privileged</span> <span style="color:#a16207">■ failing subjects</span></p></div>
<div class="chart"><h3>New and removed grants</h3>
<svg role="img" aria-label="new and removed" width="300" height="70" viewBox="0 0 300 70">
<text x="0" y="20" font-size="12">new</text><rect x="70" y="6" width="{{ nr.new_w }}" height="20" fill="#15803d"></rect><text x="{{ 74 + nr.new_w }}" y="20" font-size="12">{{ s.new }}</text>
<text x="0" y="52" font-size="12">removed</text><rect x="70" y="38" width="{{ nr.removed_w }}" height="20" fill="#6b7280"></rect><text x="{{ 74 + nr.removed_w }}" y="52" font-size="12">{{ s.removed }}</text>
</svg></div></div>
<h2>Rules</h2>
<table class="sortable"><thead><tr><th>Rule</th><th>Status</th><th>Severity</th><th>HIPAA</th><th>Finding</th><th>Subjects</th></tr></thead><tbody>
{% for r in review.rules %}<tr><td>{{ r.title }}<br><code>{{ r.rule_id }}</code></td>
<td class="st {{ {'FAIL':'fail','PASS':'pass'}.get(r.status, 'na') }}">{{ r.status }}</td><td class="st">{{ r.severity }}</td>
<td>{{ r.hipaa|join(", ") }}</td><td>{{ r.reason }}{% for u in r.unknown[:5] %}<br><i>{{ u }}</i>{% endfor %}</td>
<td>{% for sub in r.subjects[:25] %}{{ sub.reason }}<br>{% endfor %}{% if r.subjects|length > 25 %}… {{ r.subjects|length - 25 }} more (CSV / JSON){% endif %}</td></tr>{% endfor %}
</tbody></table>
<h2>Paths to PHI ({{ shown|length }}{% if shown|length < review.paths|length %} of {{ review.paths|length }}: privileged, flagged or new first; all in the CSV{% endif %})</h2>
<table class="sortable"><thead><tr><th>Principal</th><th>Kind</th><th>Role</th><th>Scope</th><th>Access</th><th>Via group</th><th>Last sign-in</th><th>New</th><th>Findings</th></tr></thead><tbody>
{% for p in shown %}<tr class="{{ 'new' if p.new else '' }}"><td>{{ p.principal_name or p.principal_id }}{% if p.upn %}<br><small>{{ p.upn }}</small>{% endif %}</td>
<td>{{ p.principal_kind }}</td><td>{{ p.role }}</td><td><small>{{ p.scope }}</small></td><td>{{ p.access }}</td>
<td><small>{{ p.via_group }}</small></td><td>{{ p.last_sign_in }}</td><td>{{ "yes" if p.new else "" }}</td><td>{{ p.findings|join(", ") }}</td></tr>{% endfor %}
</tbody></table>
{% if review.removed %}<h2>Removed since last review ({{ review.removed|length }})</h2>
<table class="sortable"><thead><tr><th>Principal</th><th>Role</th><th>Scope</th><th>Access</th></tr></thead><tbody>
{% for p in review.removed[:500] %}<tr><td>{{ p.principal_name or p.principal_id }}</td><td>{{ p.role }}</td><td><small>{{ p.scope }}</small></td><td>{{ p.access }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if review.errors %}<h2>Not read or skipped</h2><ul>{% for e in review.errors[:100] %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}
<h2>Sign-off</h2>
<table class="signoff"><tr><th>Reviewer</th><td></td><th>Date</th><td></td></tr>
<tr><th>Compliance officer</th><td></td><th>Signature</th><td></td></tr></table>
<p class="meta">Decisions: fill the CSV's <code>decision</code> (keep / remove / justify) and
<code>comment</code> columns, then <code>phiguard access-review decide FILE.csv --reviewer WHO</code>.</p>
<script>
document.documentElement.setAttribute("data-sortable", "ready");
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>
</body></html>
"""

HTML_ROWS = 2000


def to_html(review: Mapping[str, Any]) -> str:
    from jinja2 import Environment

    from shared.safe_text import inert

    # Names come from the directory (a guest's display name is the inviter's text): control and
    # direction characters are shown as escapes before autoescaping, as in the findings report.
    env = Environment(
        autoescape=True,
        # Markup (``__html__``) is the template's own, already safe: left as it is.
        finalize=lambda v: inert(v) if isinstance(v, str) and not hasattr(v, "__html__") else v,
    )
    paths = list(review["paths"])
    privileged = [p for p in paths if p["privileged"]]
    by_role = Counter(p["role"] for p in privileged)
    by_scope = Counter(
        f"{p['scope_kind']}: {p['scope'].rstrip('/').rsplit('/', 1)[-1]}" for p in privileged
    )
    s = review["summary"]
    top = max(int(s["new"]), int(s["removed"]), 1)
    shown = sorted(
        paths, key=lambda p: (not p["findings"], not p["privileged"], not p["new"], p["role"])
    )[:HTML_ROWS]
    return env.from_string(_TEMPLATE).render(
        review=review,
        s=s,
        by_role=_bars(by_role),
        by_scope=_bars(by_scope),
        trend=_trend(review.get("trend") or []),
        nr={
            "new_w": round(180 * int(s["new"]) / top),
            "removed_w": round(180 * int(s["removed"]) / top),
        },
        shown=shown,
    )


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(text: str) -> str:
    """``YYYY-Www`` checked to be a real ISO week (2026-W53 is not); ValueError otherwise."""
    import re
    from datetime import date

    m = re.fullmatch(r"(\d{4})-W(\d{2})", text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not an ISO week like 2026-W49")
    try:
        date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ValueError(f"{text!r}: {m.group(1)} has no week {int(m.group(2))}") from None
    return f"{m.group(1)}-W{m.group(2)}"
