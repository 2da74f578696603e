"""The reviewers' decisions, back from the CSV: ``phiguard access-review decide FILE.csv``.

Each row's decision (keep / remove / justify, with a comment; justify needs one) is recorded
with the reviewer and the time as evidence next to the week's report
(``access-reviews/YYYY-Www/decisions/<time>-<reviewer>.json``, with the SHA-256 of the file
as signed). Rows that cannot be read are named (file:line and why) and skipped; the rest is
recorded.

"remove" decisions become a plan: the DELETE of the role assignment, with the assignment's full
body as read just before (so a rollback can PUT it back). Never planned: removing phiguard's own
access, or an Owner whose removal would leave a subscription without any Owner. A path through a
group, a PIM eligibility or a Key Vault access policy is planned as a manual step (group
membership, PIM and vault policies are changed where they live). Dry-run by default; applied
only with ``apply`` (``--apply``) and the revoke remediation allow-listed
(``PHIGUARD_REMEDIATION_ALLOW`` holds :data:`REVOKE`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.access.model import covers
from shared.access.report import CSV_COLUMNS, DECISIONS
from shared.kernel.errors import PhiguardError

if TYPE_CHECKING:
    from shared.arm import ArmReader, ArmWriter

REVOKE = "access_review_revoke"
ROLE_ASSIGNMENTS_VERSION = "2022-04-01"
REQUIRED = (
    "week",
    "path_key",
    "assignment_id",
    "principal_id",
    "role",
    "scope",
    "access",
    "via_group",
    "decision",
    "comment",
)
MAX_COMMENT = 2000
_FORMULA = ("=", "+", "-", "@")


class DecisionFileError(PhiguardError, ValueError):
    """The file as a whole cannot be read (not a review CSV); names the file and why."""


@dataclass(frozen=True)
class Decision:
    line: int
    path_key: str
    decision: str
    comment: str
    row: Mapping[str, str]


@dataclass
class Parsed:
    week: str
    decisions: list[Decision] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # "file:line: why"
    undecided: int = 0
    sha256: str = ""


def _cell(value: str | None) -> str:
    """A cell as written by the report: the formula guard's leading ``'`` taken off again."""
    text = (value or "").strip()
    if text.startswith("'") and text[1:2] in _FORMULA:
        return text[1:]
    return text


def parse_decisions(raw: bytes, name: str) -> Parsed:
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecisionFileError(f"{name}: not UTF-8 text (byte {exc.start + 1})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DecisionFileError(
            f"{name}:1: not an access-review CSV: column(s) {', '.join(missing)} missing "
            f"(expected the columns {', '.join(CSV_COLUMNS)})"
        )
    parsed = Parsed(week="", sha256=digest)
    weeks: set[str] = set()
    for number, row in enumerate(reader, start=2):
        cells = {k.strip(): _cell(v) for k, v in row.items() if isinstance(k, str)}
        weeks.add(cells.get("week", ""))
        decision = cells.get("decision", "").lower()
        comment = cells.get("comment", "")
        where = f"{name}:{number}"
        if not cells.get("path_key"):
            parsed.invalid.append(f"{where}: path_key is empty")
            continue
        if not decision:
            parsed.undecided += 1
            continue
        if decision not in DECISIONS:
            parsed.invalid.append(
                f"{where}: decision {decision[:40]!r} is not one of {', '.join(DECISIONS)}"
            )
            continue
        if decision == "justify" and not comment:
            parsed.invalid.append(f"{where}: justify needs a comment (the justification)")
            continue
        if len(comment) > MAX_COMMENT:
            parsed.invalid.append(f"{where}: comment longer than {MAX_COMMENT} characters")
            continue
        parsed.decisions.append(Decision(number, cells["path_key"], decision, comment, cells))
    weeks.discard("")
    if len(weeks) != 1:
        raise DecisionFileError(
            f"{name}: the week column must hold one ISO week, found {sorted(weeks)[:3] or 'none'}"
        )
    parsed.week = weeks.pop()
    return parsed


def plan_removals(decisions: Sequence[Decision], review: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What each "remove" decision would do, refusing what must never be done."""
    paths = {str(p["key"]): p for p in review.get("paths") or []}
    self_ids = {str(i).lower() for i in review.get("self_ids") or []}
    owners: dict[str, set[str]] = {}  # subscription → Owner assignment ids (direct grant rows)
    for p in paths.values():
        if p["role"].lower() == "owner" and p["access"] != "eligible" and not p["via_group"]:
            for sub in review.get("subscriptions") or []:
                if covers(p["scope"], f"/subscriptions/{sub}"):
                    owners.setdefault(str(sub).lower(), set()).add(str(p["assignment_id"]))
    remaining = {sub: set(ids) for sub, ids in owners.items()}
    plan: list[dict[str, Any]] = []
    for d in decisions:
        if d.decision != "remove":
            continue
        path = paths.get(d.path_key)
        base = {"line": d.line, "path_key": d.path_key}
        if path is None:
            plan.append({**base, "action": "none", "refused": "not a path of this week's review"})
            continue
        base |= {
            "assignment_id": path["assignment_id"],
            "principal_id": path["principal_id"],
            "role": path["role"],
            "scope": path["scope"],
        }
        if str(path["principal_id"]).lower() in self_ids:
            plan.append(
                {**base, "action": "none", "refused": "phiguard's own access is never removed"}
            )
            continue
        if path["via_group"]:
            plan.append(
                {
                    **base,
                    "action": "manual",
                    "step": f"remove the principal from group "
                    f"{path['via_group']} in Entra ID (the group's grant stays)",
                }
            )
            continue
        if path["access"] == "policy":
            plan.append({**base, "action": "manual", "step": "remove the vault access policy"})
            continue
        if path["access"] == "eligible":
            plan.append({**base, "action": "manual", "step": "remove the PIM eligibility"})
            continue
        if path["role"].lower() == "owner":
            aid = str(path["assignment_id"])
            held = [sub for sub, ids in remaining.items() if aid in ids]
            last = sorted(sub for sub in held if len(remaining[sub]) <= 1)
            if last:
                plan.append(
                    {
                        **base,
                        "action": "none",
                        "refused": f"the last Owner of subscription(s) {', '.join(last)}",
                    }
                )
                continue
            for sub in held:
                remaining[sub].discard(aid)
        plan.append(
            {
                **base,
                "action": "delete",
                "method": "DELETE",
                "target": path["assignment_id"],
                "api_version": ROLE_ASSIGNMENTS_VERSION,
            }
        )
    return plan


def attach_bodies(plan: list[dict[str, Any]], arm: ArmReader) -> None:
    """The full body of each assignment to delete, as ARM returns it now (the rollback)."""
    for step in plan:
        if step.get("action") != "delete":
            continue
        body = arm.get(str(step["target"]), ROLE_ASSIGNMENTS_VERSION, "role_assignment")
        if body is None:
            step["action"] = "none"
            step["refused"] = "already gone (ARM answered 404)"
        else:
            step["body"] = body
            step["rollback"] = {
                "method": "PUT",
                "target": step["target"],
                "api_version": ROLE_ASSIGNMENTS_VERSION,
                "body": {
                    "properties": {
                        k: body.get("properties", {}).get(k)
                        for k in (
                            "roleDefinitionId",
                            "principalId",
                            "principalType",
                            "description",
                            "condition",
                            "conditionVersion",
                            "delegatedManagedIdentityResourceId",
                        )
                        if body.get("properties", {}).get(k) is not None
                    }
                },
            }


def apply_plan(plan: list[dict[str, Any]], writer: ArmWriter, now: datetime) -> None:
    """Deletes what the plan says, each step's result recorded on it."""
    for step in plan:
        if step.get("action") != "delete" or "body" not in step:
            continue
        try:
            result = writer.delete(str(step["target"]), str(step["api_version"]))
        except Exception as exc:  # one failed removal never stops the others
            step["result"] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
            continue
        if result.status in (204, 404):
            # RoleAssignments_Delete 2022-04-01: 204 "Role assignment already deleted or does
            # not exist". phiguard removed nothing, so there is nothing to roll back.
            step["result"] = f"already gone (ARM answered {result.status})"
        else:
            step["result"] = f"deleted (HTTP {result.status})"
        step["applied_at"] = now.isoformat()


def evidence_name(now: datetime, reviewer: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", reviewer)[:64] or "reviewer"
    return f"decisions/{now.strftime('%Y%m%dT%H%M%SZ')}-{slug}.json"


def rollback_plan(
    evidence: Mapping[str, Any], reader: ArmReader, writer: ArmWriter, now: datetime
) -> list[dict[str, Any]]:
    """Recreates every role assignment a decisions file says was deleted, from the body kept in
    it: read first (an assignment that exists again is left alone), then PUT at the same id."""
    out: list[dict[str, Any]] = []
    for step in evidence.get("plan") or []:
        if not isinstance(step, Mapping) or not str(step.get("result", "")).startswith("deleted"):
            continue
        rollback = step.get("rollback")
        if not isinstance(rollback, Mapping):
            out.append({"target": step.get("target"), "result": "no rollback body kept"})
            continue
        target = str(rollback["target"])
        version = str(rollback["api_version"])
        done: dict[str, Any] = {"line": step.get("line"), "target": target}
        try:
            if reader.get(target, version, "role_assignment") is not None:
                done["result"] = "exists already; left alone"
            else:
                result = writer.put(target, version, dict(rollback["body"]))
                done["result"] = f"recreated (HTTP {result.status})"
                done["at"] = now.isoformat()
        except Exception as exc:  # one failure never stops the others
            done["result"] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
        out.append(done)
    return out
