"""Monitoring remediations: phiguard's own diagnostic setting on PHI resources.

phiguard adds one diagnostic setting of its own, named ``phiguard-audit``, sending the resource's
audit logs to the configured Log Analytics workspace and archive storage account. It never
deletes or edits a customer's setting: it creates its own, or repairs its own when someone
changed it; the inverse of a create is the DELETE of its own setting. Storage accounts get the
setting on their blob service (``{account}/blobServices/default``), where blob reads, writes and
deletes are logged.

Category groups (``audit``, ``allLogs``) per type. ``audit`` is used where Azure documents it
(the built-in policy "Resource logs should be enabled for Audit on supported resources",
187242f4-89c6-4c43-9a4e-188c0efacc5f, lists Key Vault among the types supporting the audit
group). ``allLogs`` (every type with resource logs supports it) is used elsewhere: blob services
(their audit group leaves out StorageRead, and reads of PHI must be logged), NSGs, Application
Gateway, Front Door (classic and Standard/Premium), and App Service apps, whose access logs
(AppServiceHTTPLogs, FunctionAppLogs) the audit group does not cover, and the data services
listed in ``TARGETS`` with their built-in policies. AKS, FHIR and MySQL flexible servers are not
covered (no category-group policy found for them; their failures are logged ACTION_REQUIRED).
SQL databases have no
diagnostic-settings check (their auditing is judged from auditingSettings), so they are not
covered here.

Destinations: the archive storage account is left out (the workspace alone receives the logs)
for a regional resource in another region than the account, as Azure accepts a storage
destination only in the resource's region; with no workspace configured that is a plan failure.

Limits: Azure allows five diagnostic settings per resource and refuses a setting that sends a
category to a destination another setting of the same resource already uses for it; both come
back as a recorded failure, never as an edit of the customer's setting. ARM also checks that
phiguard's identity may use the destinations (linked access check): besides
``Microsoft.Insights/diagnosticSettings/write`` on the resource, Learn documents
``Microsoft.OperationalInsights/workspaces/sharedKeys/action`` (and ``/read``) on the workspace
("Manage access to Log Analytics workspaces") and ListKeys
(``Microsoft.Storage/storageAccounts/listKeys/action``) on the archive account ("Roles,
permissions, and security in Azure Monitor"). They belong on those two resources only, never in
the subscription-wide role of ``rbac_actions`` (ListKeys there would open every PHI account).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediations.paths import parse_path
from remediations.plan import Change, PlanError, Write, same
from remediations.registry import RemediationOptions, check_statuses, remediation
from shared.kernel.findings import Status
from shared.kernel.related import RELATED
from shared.kernel.snapshot import Snapshot

ID = "monitoring_diagnostic_settings_audit"
SETTING_NAME = "phiguard-audit"
API_VERSION = RELATED["diagnostic_settings"].api_version
MAX_SETTINGS = 5

# resource type → (related document holding its settings, category group phiguard enables)
TARGETS: dict[str, tuple[str, str]] = {
    "microsoft.keyvault/vaults": ("diagnostic_settings", "audit"),
    "microsoft.storage/storageaccounts": ("blob_diagnostic_settings", "allLogs"),
    "microsoft.network/networksecuritygroups": ("diagnostic_settings", "allLogs"),
    "microsoft.network/applicationgateways": ("diagnostic_settings", "allLogs"),
    "microsoft.network/frontdoors": ("diagnostic_settings", "allLogs"),
    "microsoft.cdn/profiles": ("diagnostic_settings", "allLogs"),
    "microsoft.web/sites": ("diagnostic_settings", "allLogs"),
    # Types with a built-in "Enable logging by category group for ... to Log Analytics" policy
    # (so Azure Monitor accepts category groups on them): Cosmos DB accounts 68ba9fc9, SQL
    # managed instances 8fc4ca5f, PostgreSQL flexible servers cdd1dbc6, Azure Firewall
    # a4490248, Log Analytics workspaces 818719e5. allLogs, as for the types above: their
    # access logs (DataPlaneRequests, SQLSecurityAuditEvents, PostgreSQLLogs, the AZFW rule
    # logs, a workspace's query Audit) are what HIPAA's audit controls ask to keep.
    "microsoft.documentdb/databaseaccounts": ("diagnostic_settings", "allLogs"),
    "microsoft.sql/managedinstances": ("diagnostic_settings", "allLogs"),
    "microsoft.dbforpostgresql/flexibleservers": ("diagnostic_settings", "allLogs"),
    "microsoft.network/azurefirewalls": ("diagnostic_settings", "allLogs"),
    "microsoft.operationalinsights/workspaces": ("diagnostic_settings", "allLogs"),
}
_SCOPE_SUFFIX = {"diagnostic_settings": "", "blob_diagnostic_settings": "/blobServices/default"}
FIXES = (
    "keyvault_vault_audit_logs_enabled",
    "storage_account_blob_diagnostic_logs_enabled",
    "appservice_site_resource_logs_enabled",
    "monitoring_resource_audit_logs_enabled",
)


def _region(location: object) -> str:
    """An Azure region name as ARM compares it: case and spaces do not matter."""
    return str(location or "").replace(" ", "").lower()


def _same_region(snapshot: Snapshot, archive_location: str | None) -> bool:
    """Whether the archive account may be the resource's storage destination: "Storage
    accounts must be in the same region as the resource being monitored if the resource is
    regional" (Learn, "Diagnostic settings in Azure Monitor", Destinations). True when either
    region is unknown or the resource is not regional (``global``, e.g. Front Door)."""
    mine = _region(snapshot.resource.get("location"))
    if not archive_location or not mine or mine == "global":
        return True
    return mine == _region(archive_location)


def _own(snapshot: Snapshot, key: str) -> Mapping[str, Any] | None:
    if not snapshot.has(key):
        return None
    return next(
        (s for s in snapshot.docs(key) if str(s.get("name", "")).lower() == SETTING_NAME), None
    )


def _setting_writes(snapshot: Snapshot, values: Mapping[str, Any]) -> list[Write]:
    writes: list[Write] = []
    for path, value in values.items():
        tokens = parse_path(path)
        key = str(tokens[1][1]) if len(tokens) == 3 else ""
        if (
            tokens[0] != ("key", "related")
            or key not in _SCOPE_SUFFIX
            or tokens[2][0] != "name"
            or str(tokens[2][1]).lower() != SETTING_NAME
        ):
            raise PlanError(f"phiguard writes only its own diagnostic setting, not {path}")
        target = (
            f"{snapshot.id}{_SCOPE_SUFFIX[key]}"
            f"/providers/Microsoft.Insights/diagnosticSettings/{SETTING_NAME}"
        )
        current = _own(snapshot, key)
        expect = {"properties": dict(current.get("properties") or {})} if current else {}
        if value is None:
            if current is None:
                continue
            writes.append(Write("DELETE", target, API_VERSION, None, (path,), expect=expect))
            continue
        writes.append(
            Write(
                "PUT",
                target,
                API_VERSION,
                {"properties": dict(value["properties"])},
                (path,),
                if_none_match=current is None,
                expect=expect,
            )
        )
    return writes


@remediation(
    id=ID,
    title="PHI resources get phiguard's own diagnostic setting sending audit logs to retention",
    fixes=FIXES,
    resource_types=tuple(TARGETS),
    writes=tuple(f"related.{key}[name={SETTING_NAME}]" for key in _SCOPE_SUFFIX),
    reversible=True,
    disruptive=(
        "Nothing stops working: the resource's traffic is untouched. Log volume grows, and "
        "with it ingestion and storage cost in the destination workspace and account."
    ),
    rbac_actions=(
        "Microsoft.Insights/diagnosticSettings/write",
        "Microsoft.Insights/diagnosticSettings/delete",
    ),
    default_mode="enforce",
    writes_for=_setting_writes,
)
def monitoring_diagnostic_settings_audit(
    snapshot: Snapshot, options: RemediationOptions
) -> Change | None:
    """Creates (or repairs, if it was changed) the ``phiguard-audit`` diagnostic setting, which
    sends the type's audit or allLogs category group to the configured workspace and archive
    storage account. Safe because it adds a setting beside the customer's and touches nothing
    else; the rollback deletes it (or restores phiguard's earlier version). None when the
    audit-log checks pass or the type is not covered."""
    target = TARGETS.get(snapshot.type)
    if target is None:
        return None
    key, group = target
    if not snapshot.has(key):
        raise PlanError(f"the {key} document of {snapshot.id} was not read")
    statuses = check_statuses(FIXES, snapshot)
    if Status.FAIL not in statuses.values():
        return None
    if not (options.workspace_id or options.archive_storage_id):
        raise PlanError(
            "no destination configured (PHIGUARD_REMEDIATION_WORKSPACE_ID, "
            "PHIGUARD_REMEDIATION_ARCHIVE_STORAGE_ID)"
        )
    archive = options.archive_storage_id
    if archive and not _same_region(snapshot, options.archive_storage_location):
        if not options.workspace_id:
            here = str(snapshot.resource.get("location"))[:40]
            raise PlanError(
                f"the archive storage account is in {options.archive_storage_location}, "
                f"{snapshot.name} in {here}: Azure accepts a storage destination "
                "only in the region of the resource it logs; configure "
                "PHIGUARD_REMEDIATION_WORKSPACE_ID (a workspace may be in any region)"
            )
        archive = None  # the workspace alone: a PUT naming the account would be refused
    props: dict[str, Any] = {}
    if options.workspace_id:
        props["workspaceId"] = options.workspace_id
    if archive:
        props["storageAccountId"] = archive
    props["logs"] = [{"categoryGroup": group, "enabled": True}]
    desired = {"name": SETTING_NAME, "properties": props}
    current = _own(snapshot, key)
    if current is not None and same(current, desired):
        return None
    if current is None and len(snapshot.docs(key)) >= MAX_SETTINGS:
        raise PlanError(
            f"{snapshot.name} already has {MAX_SETTINGS} diagnostic settings, Azure's limit"
        )
    verb = "Repair" if current is not None else "Create"
    where = "blob service of " if key == "blob_diagnostic_settings" else ""
    return Change(
        f"{verb} diagnostic setting {SETTING_NAME} ({group}) on the {where}{snapshot.name}",
        {f"related.{key}[name={SETTING_NAME}]": desired},
    )
