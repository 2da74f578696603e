"""Threat protection and security incident reporting (§164.308(a)(1)(ii)(A), (a)(5)(ii)(B),
(a)(6)): Microsoft Defender for Cloud plans and security contacts of PHI subscriptions.

Both are subscription-level documents, read like the policy assignments of the governance
checks: ``/subscriptions/{id}/providers/Microsoft.Security/pricings`` (Pricings_List
2024-01-01) and ``.../securityContacts`` (SecurityContacts_List 2023-12-01-preview).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checks.common import as_list
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, failed, passed
from shared.kernel.snapshot import MalformedResource, Snapshot

SUBSCRIPTIONS = ("microsoft.resources/subscriptions",)

# Defender plan (pricing name) → (check id suffix, what it protects, built-in policy id, name).
# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
PLANS: dict[str, tuple[str, str, str, str]] = {
    "VirtualMachines": (
        "servers",
        "virtual machines and servers",
        "4da35fc9-c9e7-4960-aec9-797fe7d9051d",
        "Azure Defender for servers should be enabled",
    ),
    "StorageAccounts": (
        "storage",
        "storage accounts",
        "308fbb08-4ab8-4e67-9b29-592e93fb94fa",
        "Azure Defender for Storage should be enabled",
    ),
    "SqlServers": (
        "sql",
        "Azure SQL databases and managed instances",
        "7fe3b40f-802b-4cdd-8bd4-fd799c948cc2",
        "Azure Defender for Azure SQL Database servers should be enabled",
    ),
    "SqlServerVirtualMachines": (
        "sql_on_machines",
        "SQL Server on machines",
        "6581d072-105e-4418-827f-bd446d56421b",
        "Azure Defender for SQL servers on machines should be enabled",
    ),
    "OpenSourceRelationalDatabases": (
        "open_source_databases",
        "PostgreSQL and MySQL servers",
        "0a9fbe0d-c5c4-4da8-87d8-f4fd77338835",
        "Azure Defender for open-source relational databases should be enabled",
    ),
    "CosmosDbs": (
        "cosmos_db",
        "Cosmos DB accounts",
        "adbe85b5-83e6-4350-ab58-bf3a4f736e5e",
        "Microsoft Defender for Azure Cosmos DB should be enabled",
    ),
    "KeyVaults": (
        "key_vault",
        "key vaults",
        "0e6763cc-5078-4e64-889d-ff4d9a839047",
        "Azure Defender for Key Vault should be enabled",
    ),
    "AppServices": (
        "app_service",
        "App Service apps",
        "2913021d-f2fd-4f3d-b958-22354e2bdbcb",
        "Azure Defender for App Service should be enabled",
    ),
    "Containers": (
        "containers",
        "Kubernetes clusters and container registries",
        "1c988dd6-ade4-430f-a608-2a3e5b0a6d38",
        "Microsoft Defender for Containers should be enabled",
    ),
    "Arm": (
        "resource_manager",
        "Azure Resource Manager operations",
        "c3d20c29-b36d-48fe-808b-99a87530ad99",
        "Azure Defender for Resource Manager should be enabled",
    ),
}

register_policy_definitions({policy: name for _, _, policy, name in PLANS.values()})
register_policy_definitions(
    {
        "4f4f78b8-e367-4b10-a341-d9a4ad5cf1c7": (
            "Subscriptions should have a contact email address for security issues"
        ),
        "6e2593d9-add6-4083-9c9b-4b7d2188c899": (
            "Email notification for high severity alerts should be enabled"
        ),
        "0b15565f-aa9e-48ba-8619-45960f2c314d": (
            "Email notification to subscription owner for high severity alerts should be enabled"
        ),
    }
)


def _pricing(snapshot: Snapshot, plan: str) -> tuple[Mapping[str, Any] | None, int]:
    items = snapshot.docs("defender_pricings")
    for index, item in enumerate(items):
        if str(item.get("name", "")).lower() == plan.lower():
            props = item.get("properties")
            if not isinstance(props, Mapping):
                raise MalformedResource(f"related.defender_pricings[{index}].properties is missing")
            return props, len(items)
    return None, len(items)


def _plan_result(snapshot: Snapshot, plan: str, what: str) -> Result:
    props, count = _pricing(snapshot, plan)
    evidence: dict[str, Any] = {"plan": plan, "related.defender_pricings.count": count}
    if props is None:
        evidence["pricingTier"] = {"absent": True, "assumed": "Free"}
        return failed(f"The subscription reports no {plan} plan, so it runs on Free.", evidence)
    tier = props.get("pricingTier")
    if not isinstance(tier, str):
        raise MalformedResource(f"the {plan} pricing has no pricingTier")
    evidence["pricingTier"] = tier
    evidence["subPlan"] = props.get("subPlan")
    if tier.lower() == "standard":
        sub_plan = f" ({props['subPlan']})" if props.get("subPlan") else ""
        return passed(f"Defender for {what} is on{sub_plan}.", evidence)
    return failed(f"Defender for {what} is off ({tier} tier): no threat detection.", evidence)


def _register_plan(plan: str, suffix: str, what: str, policy: str) -> None:
    check_id = f"defender_subscription_{suffix}_plan_enabled"

    def run(snapshot: Snapshot) -> Result:
        return _plan_result(snapshot, plan, what)

    run.__name__ = run.__qualname__ = check_id
    run.__doc__ = (
        f"PASS when the subscription's Defender for Cloud pricing named {plan} has "
        f"``pricingTier`` Standard; FAIL when it is Free or the subscription lists no such "
        f"pricing, because attacks on the {what} that hold or reach PHI (malware, credential "
        f"theft, unusual access) would then raise no security alert. Absent means Free, the "
        f"default of every plan."
    )
    check(
        id=check_id,
        title=f"Microsoft Defender for Cloud protects the {what} of PHI subscriptions",
        severity=Severity.HIGH
        if plan in ("VirtualMachines", "SqlServers", "StorageAccounts")
        else Severity.MEDIUM,
        resource_types=SUBSCRIPTIONS,
        hipaa=("164.308(a)(1)(ii)(A)", "164.308(a)(5)(ii)(B)", "164.308(a)(6)(ii)"),
        azure_policy=(policy,),
        phi_only=True,
        needs=("defender_pricings",),
        guidance=f"Turn on the Defender plan for {what} (Defender for Cloud > Environment "
        f"settings > the subscription > Defender plans, or az security pricing create -n {plan} "
        "--tier Standard).",
        limitations="Plan extensions (e.g. agentless scanning, malware scanning on upload) and "
        "per-resource overrides are not judged; a plan on at subscription level counts.",
    )(run)
    globals()[check_id] = run


for _plan, (_suffix, _what, _policy, _) in PLANS.items():
    _register_plan(_plan, _suffix, _what, _policy)


def _contacts(snapshot: Snapshot) -> list[tuple[int, Mapping[str, Any]]]:
    out = []
    for index, item in enumerate(snapshot.docs("security_contacts")):
        props = item.get("properties")
        if not isinstance(props, Mapping):
            raise MalformedResource(f"related.security_contacts[{index}].properties is missing")
        enabled = props.get("isEnabled")
        if enabled is False:
            continue
        out.append((index, props))
    return out


def _emails(props: Mapping[str, Any]) -> list[str]:
    raw = props.get("emails") or props.get("email") or ""
    if not isinstance(raw, str):
        raise MalformedResource("a security contact's emails is not a string")
    return [e.strip() for e in raw.replace(",", ";").split(";") if e.strip()]


@check(
    id="defender_subscription_security_contact_email",
    title="PHI subscriptions name a security contact email for Defender for Cloud",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(6)(ii)", "164.308(a)(2)"),
    azure_policy=("4f4f78b8-e367-4b10-a341-d9a4ad5cf1c7",),
    phi_only=True,
    needs=("security_contacts",),
    guidance="Set the security contact emails (Defender for Cloud > Environment settings > Email "
    "notifications) to a monitored security team mailbox.",
    limitations="Whether the mailbox is read is not visible. Contacts with isEnabled false are "
    "ignored.",
)
def defender_subscription_security_contact_email(snapshot: Snapshot) -> Result:
    """PASS when an enabled security contact of the subscription has at least one address in
    ``properties.emails``; FAIL when none has, because Microsoft then has nobody to tell about
    a detected compromise of the systems holding PHI. No contact exists by default. Addresses
    are counted, never copied into the evidence."""
    contacts = _contacts(snapshot)
    counts: dict[str, Any] = {
        f"related.security_contacts[{i}].emails": len(_emails(p)) for i, p in contacts
    }
    counts["related.security_contacts.enabled_count"] = len(contacts)
    if sum(v for k, v in counts.items() if k.endswith(".emails")):
        total = sum(v for k, v in counts.items() if k.endswith(".emails"))
        return passed(f"{total} security contact address(es) are set.", counts)
    return failed("No security contact email is set for the subscription.", counts)


_SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _alert_severity(props: Mapping[str, Any]) -> str | None:
    """The lowest severity of alerts mailed to the contact: 2023-12-01-preview's
    ``notificationsSources`` (sourceType Alert), else the older ``alertNotifications``."""
    for source in as_list(props.get("notificationsSources"), "notificationsSources"):
        if isinstance(source, Mapping) and str(source.get("sourceType", "")).lower() == "alert":
            value = source.get("minimalSeverity")
            return str(value) if value else None
    legacy = props.get("alertNotifications")
    if isinstance(legacy, Mapping) and str(legacy.get("state", "")).lower() == "on":
        return str(legacy.get("minimalSeverity") or "High")
    return None


@check(
    id="defender_subscription_high_severity_alert_notifications",
    title="Defender for Cloud emails high-severity alerts on PHI subscriptions",
    severity=Severity.MEDIUM,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(6)(ii)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("6e2593d9-add6-4083-9c9b-4b7d2188c899",),
    phi_only=True,
    needs=("security_contacts",),
    guidance="Under Email notifications, notify about alerts with severity High (or lower).",
)
def defender_subscription_high_severity_alert_notifications(snapshot: Snapshot) -> Result:
    """PASS when an enabled security contact receives alerts (a ``notificationsSources`` entry
    of sourceType Alert, or the older ``alertNotifications.state`` On) with a
    ``minimalSeverity`` of High or lower; FAIL when alert mail is off or limited to Critical,
    because a likely compromise of PHI systems would then wait for someone to open the portal.
    No notification is configured by default."""
    contacts = _contacts(snapshot)
    evidence: dict[str, Any] = {"related.security_contacts.enabled_count": len(contacts)}
    for index, props in contacts:
        severity = _alert_severity(props)
        evidence[f"related.security_contacts[{index}].minimalSeverity"] = severity
        if severity is not None and _SEVERITY_ORDER.get(severity.lower(), 9) <= 2:
            return passed(f"Alerts of severity {severity} and above are emailed.", evidence)
    return failed("High-severity Defender alerts are not emailed to anyone.", evidence)


@check(
    id="defender_subscription_owner_alert_notifications",
    title="Defender for Cloud emails alerts to the owners of PHI subscriptions",
    severity=Severity.LOW,
    resource_types=SUBSCRIPTIONS,
    hipaa=("164.308(a)(6)(ii)", "164.308(a)(2)"),
    azure_policy=("0b15565f-aa9e-48ba-8619-45960f2c314d",),
    phi_only=True,
    needs=("security_contacts",),
    guidance="Under Email notifications, also send to the subscription's Owner role.",
)
def defender_subscription_owner_alert_notifications(snapshot: Snapshot) -> Result:
    """PASS when an enabled security contact has ``notificationsByRole.state`` On with Owner
    among its ``roles``; FAIL otherwise, because the people accountable for the subscription
    would not hear of alerts on it. Absent notificationsByRole means Off."""
    contacts = _contacts(snapshot)
    evidence: dict[str, Any] = {"related.security_contacts.enabled_count": len(contacts)}
    for index, props in contacts:
        by_role = props.get("notificationsByRole")
        if not isinstance(by_role, Mapping):
            continue
        roles = [str(r) for r in as_list(by_role.get("roles"), "notificationsByRole.roles")]
        state = str(by_role.get("state", "Off"))
        evidence[f"related.security_contacts[{index}].notificationsByRole"] = {
            "state": state,
            "roles": roles,
        }
        if state.lower() == "on" and any(r.lower() == "owner" for r in roles):
            return passed("Alerts are also emailed to the subscription owners.", evidence)
    return failed("Alerts are not emailed to the subscription owners.", evidence)
