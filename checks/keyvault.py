"""Key Vault checks: the vaults that hold the customer-managed keys and secrets PHI depends on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks.common import (
    Evidence,
    as_list,
    audit_logs_result,
    is_internet_source,
    private_endpoint_states,
)
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity, not_applicable
from shared.kernel.snapshot import MalformedResource, Snapshot

# Verified in Azure/azure-policy, built-in-policies/policyDefinitions/Key Vault/
# AzureKeyVaultFirewallEnabled_Audit.json, AzureKeyVaultPublicNetworkAccess_Audit.json and
# AzureKeyVault_Should_Use_PrivateEndpoint_Audit.json.
register_policy_definitions(
    {
        "55615ac9-af46-4a59-874e-391cc3dfb490": "Azure Key Vault should have firewall enabled",
        "405c5871-3e91-4644-8a63-58e19d68ff5b": (
            "Azure Key Vault should disable public network access"
        ),
        "a6abeaec-4d90-4a02-805f-6b26c4d3fbe9": "Azure Key Vaults should use private link",
        "152b15f7-8e1f-4c1f-ab71-8c010ba5dbc0": "Key Vault keys should have an expiration date",
    }
)

VAULTS = ("microsoft.keyvault/vaults",)

# Access-policy permissions, per object kind: the enums of the Key Vault management API
# (Azure/azure-rest-api-specs, specification/keyvault/resource-manager/Microsoft.KeyVault/stable/
# 2024-11-01/keyvault.json, definitions.Permissions: KeyPermissions, SecretPermissions,
# CertificatePermissions, StoragePermissions), without "all". Compared case-insensitively: ARM
# stores whatever case the caller sent ("Get", "WrapKey").
PERMISSIONS: dict[str, frozenset[str]] = {
    "keys": frozenset(
        {
            "encrypt",
            "decrypt",
            "wrapkey",
            "unwrapkey",
            "sign",
            "verify",
            "get",
            "list",
            "create",
            "update",
            "import",
            "delete",
            "backup",
            "restore",
            "recover",
            "purge",
            "release",
            "rotate",
            "getrotationpolicy",
            "setrotationpolicy",
        }
    ),
    "secrets": frozenset({"get", "list", "set", "delete", "backup", "restore", "recover", "purge"}),
    "certificates": frozenset(
        {
            "get",
            "list",
            "delete",
            "create",
            "import",
            "update",
            "managecontacts",
            "getissuers",
            "listissuers",
            "setissuers",
            "deleteissuers",
            "manageissuers",
            "recover",
            "purge",
            "backup",
            "restore",
        }
    ),
    "storage": frozenset(
        {
            "get",
            "list",
            "delete",
            "set",
            "update",
            "regeneratekey",
            "recover",
            "purge",
            "backup",
            "restore",
            "setsas",
            "listsas",
            "getsas",
            "deletesas",
        }
    ),
}
PERMISSION_KINDS = tuple(PERMISSIONS)

# What a workload identity needs, per kind: use the material (cryptographic operations, read a
# secret or certificate, get a SAS) and read its metadata. Everything else in the enum manages the
# material's lifecycle: creates, imports or replaces it (create, import, update, rotate,
# setrotationpolicy, regeneratekey, the issuer and contact settings), destroys it (delete, purge,
# deletesas), or takes it out of or back into the vault (backup, restore, recover). phiguard calls
# an access policy broad when it grants any of those, when it grants "all" or enumerates every
# permission of a kind (the same thing in effect), or "purge" (which destroys soft-deleted objects
# beyond recovery). Decisions, documented in the check: secrets "set" is a workload permission
# (applications store and refresh their own secrets; it overwrites a value but leaves every
# earlier version recoverable); keys "release" is one too (secure key release hands the key only
# to an attested confidential workload under the key's release policy); "getrotationpolicy",
# "getissuers", "listissuers", "listsas" and "getsas" only read.
WORKLOAD_PERMISSIONS: dict[str, frozenset[str]] = {
    "keys": frozenset(
        {
            "encrypt",
            "decrypt",
            "wrapkey",
            "unwrapkey",
            "sign",
            "verify",
            "get",
            "list",
            "release",
            "getrotationpolicy",
        }
    ),
    "secrets": frozenset({"get", "list", "set"}),
    "certificates": frozenset({"get", "list", "getissuers", "listissuers"}),
    "storage": frozenset({"get", "list", "getsas", "listsas"}),
}
MANAGEMENT_PERMISSIONS: dict[str, frozenset[str]] = {
    kind: PERMISSIONS[kind] - WORKLOAD_PERMISSIONS[kind] for kind in PERMISSION_KINDS
}
# The order broad permissions are named in: the destructive first, then those that create or
# replace material, then those that move it out of or back into the vault.
_SHOWN_FIRST = (
    "purge",
    "delete",
    "deletesas",
    "deleteissuers",
    "create",
    "import",
    "update",
    "rotate",
    "setrotationpolicy",
    "regeneratekey",
    "set",
    "setsas",
    "setissuers",
    "manageissuers",
    "managecontacts",
    "backup",
    "restore",
    "recover",
)
_NAMED_IN_REASON = 3
_PERMISSIONS_IN_REASON = 4


def _flag(ev: Evidence, name: str, default: bool) -> bool:
    """A boolean vault property; JSON null is "not set" (older API versions) and means default,
    as an absent one does."""
    return ev.flag(f"properties.{name}", default)


def _setting(ev: Evidence, name: str, default: str) -> str:
    """A string vault property; null or absent means default, anything but a string is
    malformed."""
    return ev.text(f"properties.{name}", default)


@check(
    id="keyvault_vault_soft_delete_enabled",
    title="Key vaults have soft delete enabled so deleted keys and secrets stay recoverable",
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.312(c)(1)", "164.308(a)(7)(ii)(B)"),
    azure_policy=("1e66c121-a66a-4b1f-9b83-0fd99bf0fc2d",),
    guidance="Set enableSoftDelete to true (az keyvault update --enable-soft-delete true); "
    "it cannot be turned off again.",
)
def keyvault_vault_soft_delete_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.enableSoftDelete`` is true; FAIL when it is false, because deleting
    the vault (or a key in it) is then immediate and permanent: a customer-managed key that
    encrypts PHI is gone, and so is every copy of the data it protected. Absent means true: the
    Key Vault API documents that a vault created without the property gets soft delete, and
    Microsoft's "Soft-delete will be enabled on all key vaults" notice says the opt-out was
    removed in February 2025, so a false value only survives on vaults created before then."""
    ev = Evidence(snapshot)
    if _flag(ev, "enableSoftDelete", True):
        days = ev.number("properties.softDeleteRetentionInDays", 90)
        return ev.passed(f"Soft delete is enabled with a {days}-day recovery window.")
    return ev.failed("Soft delete is disabled, so deleted keys and secrets cannot be recovered.")


@check(
    id="keyvault_vault_purge_protection_enabled",
    title="Key vaults have purge protection enabled",
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.312(c)(1)", "164.308(a)(7)(ii)(B)"),
    azure_policy=("0b60c0b2-2dc2-4e1c-b5c9-abbed971de53",),
    guidance="Set enablePurgeProtection to true (az keyvault update --enable-purge-protection "
    "true). This is irreversible; soft delete must be on as well.",
    limitations="Purge protection is one-way, so the remediation is a human decision; phiguard "
    "does not turn it on automatically.",
)
def keyvault_vault_purge_protection_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.enablePurgeProtection`` is true and soft delete is on; FAIL
    otherwise, because without purge protection anyone holding the purge permission (or a
    compromised admin) can irrecoverably destroy soft-deleted keys, crypto-shredding the PHI they
    encrypt, before the retention period ends. Absent means false: purge protection is off until
    a caller sets it (the Key Vault API accepts only true and calls enabling it irreversible),
    and Azure Policy "Key vaults should have deletion protection enabled" treats a missing value
    as non-compliant. Purge protection only
    takes effect when soft delete is also enabled (absent ``enableSoftDelete`` means true)."""
    ev = Evidence(snapshot)
    purge = _flag(ev, "enablePurgeProtection", False)
    soft = _flag(ev, "enableSoftDelete", True)
    if purge and soft:
        return ev.passed("Purge protection and soft delete are both enabled.")
    if purge:
        return ev.failed("Purge protection is set but has no effect because soft delete is off.")
    return ev.failed("Purge protection is not enabled, so deleted keys can be purged at once.")


@check(
    id="keyvault_vault_rbac_authorization_enabled",
    title="Key vaults authorize data-plane access with Azure RBAC instead of access policies",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.308(a)(4)(ii)(C)"),
    azure_policy=("12d4fa5e-1f9f-4c21-97a9-b99b3c6611b5",),
    guidance="Assign Key Vault RBAC roles that match the existing access policies, then set "
    "enableRbacAuthorization to true (see 'Migrate from access policies to Azure RBAC').",
    limitations="Role assignments themselves live outside the vault body; this check does not "
    "judge who holds which Key Vault role.",
)
def keyvault_vault_rbac_authorization_enabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.enableRbacAuthorization`` is true; FAIL when it is false, because
    vault access policies are all-or-nothing per object kind, cannot be scoped to one key, are
    invisible to Entra access reviews and PIM, and anyone with Contributor on the vault can grant
    themselves data access — weak access control for the keys guarding PHI. Absent means false
    (access policies): Microsoft's page "Azure RBAC as default access control" says the RBAC
    default of API version 2026-02-01 applies only to vaults created with that version, and that
    vaults whose ``enableRbacAuthorization`` is null (created with older API versions) continue
    using access policies."""
    ev = Evidence(snapshot)
    if _flag(ev, "enableRbacAuthorization", False):
        return ev.passed("The vault uses the Azure RBAC permission model.")
    return ev.failed("The vault uses legacy access policies instead of Azure RBAC.")


@check(
    id="keyvault_vault_network_access_restricted",
    title="PHI key vaults deny public network access or allow only listed networks",
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("55615ac9-af46-4a59-874e-391cc3dfb490", "405c5871-3e91-4644-8a63-58e19d68ff5b"),
    phi_only=True,
    guidance="Set publicNetworkAccess to Disabled and use a private endpoint, or set "
    "networkAcls.defaultAction to Deny with only the needed IP and virtual-network rules.",
)
def keyvault_vault_network_access_restricted(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled, or when
    ``properties.networkAcls.defaultAction`` is Deny and no IP rule admits the whole Internet;
    FAIL otherwise, because a vault reachable from any network exposes the keys and secrets that
    protect PHI to credential-stuffing and token-replay from anywhere. Absent
    ``publicNetworkAccess`` means Enabled and absent ``networkAcls`` means default action Allow:
    both are the Key Vault API defaults for a vault created without them."""
    ev = Evidence(snapshot)
    public = _setting(ev, "publicNetworkAccess", "Enabled")
    if public.lower() == "disabled":
        return ev.passed(
            "Public access is disabled; only private endpoints and trusted services connect."
        )
    action = _setting(ev, "networkAcls.defaultAction", "Allow")
    if action.lower() != "deny":
        return ev.failed("The vault accepts connections from all networks (default action Allow).")
    rules = as_list(snapshot.prop("networkAcls.ipRules"), "properties.networkAcls.ipRules")
    open_rules = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            raise MalformedResource(f"properties.networkAcls.ipRules[{index}] is not an object")
        if is_internet_source(rule.get("value")):
            open_rules.append(
                ev.note(f"properties.networkAcls.ipRules[{index}].value", rule["value"])
            )
    if open_rules:
        return ev.failed("The firewall denies by default but an IP rule admits the whole Internet.")
    vnets = as_list(
        snapshot.prop("networkAcls.virtualNetworkRules"),
        "properties.networkAcls.virtualNetworkRules",
    )
    return ev.passed(
        f"The firewall denies by default, allowing only {len(rules)} IP rule(s) and "
        f"{len(vnets)} virtual-network rule(s)."
    )


@check(
    id="keyvault_vault_private_endpoint_approved",
    title="PHI key vaults are reachable through an approved private endpoint",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    azure_policy=("a6abeaec-4d90-4a02-805f-6b26c4d3fbe9",),
    phi_only=True,
    guidance="Create a private endpoint for the vault (group id 'vault') in the workload's "
    "virtual network and approve the connection.",
    limitations="Only the vault's own privateEndpointConnections are read; whether clients "
    "resolve the private DNS zone is not visible through the vault.",
)
def keyvault_vault_private_endpoint_approved(snapshot: Snapshot) -> Result:
    """PASS when ``properties.privateEndpointConnections`` holds at least one connection whose
    ``privateLinkServiceConnectionState.status`` is Approved; FAIL when none does, because key
    and secret traffic for PHI workloads then has to cross the vault's public endpoint. Absent
    means no private endpoint connections: the list is empty until one is created."""
    ev = Evidence(snapshot)
    ev.prop("privateEndpointConnections", [])
    approved = sum(
        1 for _, status in private_endpoint_states(snapshot) if status.lower() == "approved"
    )
    if approved:
        return ev.passed(f"{approved} approved private endpoint connection(s) exist.")
    return ev.failed("The vault has no approved private endpoint connection.")


@check(
    id="keyvault_vault_audit_logs_enabled",
    remediation="monitoring_diagnostic_settings_audit",
    title="Key vault audit events are sent to a Log Analytics workspace or storage account",
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    azure_policy=("cf820ca0-f99e-4f3e-84fb-66e913812d21",),
    needs=("diagnostic_settings",),
    patterns=("P5",),
    guidance="Add a diagnostic setting with the AuditEvent category (or the audit / allLogs "
    "group) sent to a Log Analytics workspace or storage account.",
    limitations="The retention of the destination is judged by the monitoring checks, not here.",
)
def keyvault_vault_audit_logs_enabled(snapshot: Snapshot) -> Result:
    """PASS when a diagnostic setting of the vault sends the ``AuditEvent`` category (or the
    ``audit`` / ``allLogs`` group) to a Log Analytics workspace or storage account; FAIL when no
    setting does, because every use of a key that decrypts PHI would then go unrecorded and
    unreviewable. No default applies: a vault has no diagnostic settings until one is created,
    and an Event Hub alone retains nothing."""
    return audit_logs_result(snapshot, ("AuditEvent",), "Key Vault audit events")


@check(
    id="keyvault_vault_keys_expiration_set",
    title="Key vault keys have an expiration date",
    severity=Severity.MEDIUM,
    resource_types=VAULTS,
    hipaa=("164.312(a)(2)(iv)", "164.312(e)(2)(ii)"),
    azure_policy=("152b15f7-8e1f-4c1f-ab71-8c010ba5dbc0",),
    needs=("keyvault_keys",),
    guidance="Give each key an expiration date (az keyvault key set-attributes --expires), or a "
    "rotation policy whose expiryTime stamps every new version (az keyvault key "
    "rotation-policy update), and rotate before it passes.",
    limitations="ARM's key list gives each key's current version only; older versions are not "
    "judged. Disabled keys are not judged: they cannot encrypt or decrypt.",
)
def keyvault_vault_keys_expiration_set(snapshot: Snapshot) -> Result:
    """PASS when every enabled key of the vault has an expiration date
    (``properties.attributes.exp``, seconds since the epoch, as ARM's Keys_List answers it);
    FAIL naming the keys without one, because a key valid forever gives whoever obtains it
    unlimited time to decrypt the PHI it protects and is never forced through rotation (Azure
    Policy "Key Vault keys should have an expiration date" and Microsoft's key-management
    guidance). NOT_APPLICABLE for a vault with no enabled key. Absent ``enabled`` means enabled
    (the Key Vault API's default); absent ``exp`` means the key never expires."""
    ev = Evidence(snapshot)
    keys = snapshot.docs("keyvault_keys")
    enabled: list[str] = []
    without: list[str] = []
    for index, key in enumerate(keys):
        where = f"related.keyvault_keys[{index}].properties.attributes"
        name = str(key.get("name") or f"#{index}")
        if not ev.flag(
            "properties.attributes.enabled", True, document=key, where=f"{where}.enabled"
        ):
            continue
        enabled.append(name)
        if ev.number("properties.attributes.exp", None, document=key, where=f"{where}.exp") is None:
            without.append(name)
    ev.values["keys_judged"] = len(enabled)
    if not enabled:
        return not_applicable("The vault holds no enabled key.", ev.values)
    if without:
        ev.values["keys_without_expiration"] = without[:_KEYS_SHOWN]
        shown = ", ".join(without[:_KEYS_SHOWN])
        more = len(without) - _KEYS_SHOWN
        return ev.failed(
            f"{len(without)} of {len(enabled)} enabled key(s) never expire: {shown}"
            + (f" (+{more} more)" if more > 0 else "")
            + "."
        )
    return ev.passed(f"All {len(enabled)} enabled key(s) have an expiration date.")


_KEYS_SHOWN = 10


@dataclass(frozen=True)
class BroadGrant:
    """Why one access policy's permissions on one object kind are broad."""

    kind: str
    granted: tuple[str, ...]  # as the policy lists them
    full: bool  # "all", or every permission of the kind listed one by one
    literal_all: bool  # "all" itself is listed
    purge: bool
    management: tuple[str, ...]  # lifecycle permissions beyond a workload's needs, lowercase
    unknown: tuple[str, ...]  # names the API enum does not have (reported, not judged)

    @property
    def shown(self) -> str:
        """``keys: all`` / ``keys: every permission listed`` / ``keys: purge, create, +3``."""
        if self.literal_all:
            return f"{self.kind}: all"
        if self.full:
            return f"{self.kind}: every {self.kind[:-1]} permission listed"
        named = (["purge"] if self.purge else []) + [p for p in self.management if p != "purge"]
        more = len(named) - _PERMISSIONS_IN_REASON
        head = ", ".join(named[:_PERMISSIONS_IN_REASON])
        return f"{self.kind}: {head}" + (f" +{more} more" if more > 0 else "")

    def evidence(self) -> dict[str, Any]:
        why: list[str] = []
        if self.literal_all:
            why.append(f"'all' grants every {self.kind[:-1]} permission")
        elif self.full:
            why.append(f"every {self.kind[:-1]} permission of the API is listed (= 'all')")
        if self.purge:
            why.append(f"'purge' destroys deleted {self.kind} beyond recovery")
        managed = [p for p in self.management if p != "purge"]
        if managed:
            why.append(
                f"{self.kind[:-1]} management beyond a workload's needs: {', '.join(managed)}"
            )
        out: dict[str, Any] = {
            "granted": list(self.granted),
            "broad": sorted({*self.management, *(["all"] if self.literal_all else [])}),
            "why": why,
        }
        if self.unknown:
            out["not_in_api_enum"] = list(self.unknown)
        return out


def _shown_order(permission: str) -> tuple[int, str]:
    if permission in _SHOWN_FIRST:
        return _SHOWN_FIRST.index(permission), permission
    return len(_SHOWN_FIRST), permission


def broad_grants(policy: Mapping[str, Any], index: int) -> list[BroadGrant]:
    """The broad grants of ``properties.accessPolicies[index]``, one per object kind."""
    where = f"properties.accessPolicies[{index}].permissions"
    perms = policy.get("permissions")
    if perms is None:
        return []
    if not isinstance(perms, Mapping):
        raise MalformedResource(f"{where} is not an object")
    found: list[BroadGrant] = []
    for kind in PERMISSION_KINDS:
        granted = as_list(perms.get(kind), f"{where}.{kind}")
        names: set[str] = set()
        for item in granted:
            if not isinstance(item, str):
                raise MalformedResource(f"{where}.{kind} holds {item!r}, expected permission names")
            names.add(item.strip().lower())
        literal_all = "all" in names
        full = literal_all or PERMISSIONS[kind] <= names
        management = PERMISSIONS[kind] if full else names & MANAGEMENT_PERMISSIONS[kind]
        if not (full or management):
            continue
        ordered = tuple(sorted(management, key=_shown_order))
        found.append(
            BroadGrant(
                kind=kind,
                granted=tuple(str(g) for g in granted),
                full=full,
                literal_all=literal_all,
                purge=full or "purge" in names,
                management=ordered,
                unknown=tuple(sorted(names - PERMISSIONS[kind] - {"all"})),
            )
        )
    return found


@check(
    id="keyvault_vault_access_policies_not_broad",
    title=(
        "Key vault access policies grant no principal 'all', 'purge' or key, secret and "
        "certificate management permissions"
    ),
    severity=Severity.HIGH,
    resource_types=VAULTS,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)", "164.308(a)(3)(ii)(A)"),
    patterns=("P4",),
    guidance="Give each workload identity only the operations it uses (keys: get, wrapKey, "
    "unwrapKey for a customer-managed key; secrets: get, list) and keep create, import, delete, "
    "backup, restore, recover and purge with administrators; better, move the vault to Azure "
    "RBAC (Key Vault Crypto Service Encryption User, Key Vault Secrets User).",
    limitations="An access policy names only an objectId: ARM cannot tell a service principal "
    "from a user or group without a Microsoft Graph lookup, so every broad grant is reported, "
    "whoever holds it. Which permissions a workload needs is phiguard's judgement (secrets "
    "'set' and keys 'release' count as workload permissions). Key expiry is judged by "
    "keyvault_vault_keys_expiration_set (ARM lists keys with their attributes); secret and "
    "certificate expiry dates are data-plane properties ARM does not show, and are not checked.",
)
def keyvault_vault_access_policies_not_broad(snapshot: Snapshot) -> Result:
    """PASS when no entry of ``properties.accessPolicies`` grants broad permissions on keys,
    secrets, certificates or storage; FAIL naming each policy (index and objectId) and, per
    object kind, the permissions that made it broad. Broad (names compared case-insensitively,
    against the permission enums of the Key Vault management API 2024-11-01) is: ``all``, or
    every permission of the kind listed one by one (the same grant in effect); ``purge``, which
    destroys soft-deleted keys and secrets beyond recovery; or lifecycle management a workload
    does not need — keys: create, import, update, delete, backup, restore, recover, rotate,
    setrotationpolicy; secrets: delete, backup, restore, recover; certificates: anything but get,
    list, getissuers and listissuers; storage: anything but get, list, getsas and listsas. A
    workload identity holding these can replace, export or destroy the keys that guard PHI far
    beyond what it needs — the least-privilege failure HIPAA audits most often find in Key
    Vault. The check applies to every vault, PHI-scoped or not. NOT_APPLICABLE when
    ``enableRbacAuthorization`` is true: the Key Vault API says access policies are then ignored.
    Absent (or null) ``accessPolicies``, ``permissions`` or permission lists mean none; absent
    ``enableRbacAuthorization`` means false (see keyvault_vault_rbac_authorization_enabled)."""
    ev = Evidence(snapshot)
    if _flag(ev, "enableRbacAuthorization", False):
        return not_applicable(
            "The vault uses Azure RBAC, so access policies are ignored.", ev.values
        )
    policies = as_list(snapshot.prop("accessPolicies"), "properties.accessPolicies")
    offenders: list[str] = []
    for index, policy in enumerate(policies):
        where = f"properties.accessPolicies[{index}]"
        if not isinstance(policy, Mapping):
            raise MalformedResource(f"{where} is not an object")
        grants = broad_grants(policy, index)
        if not grants:
            continue
        object_id = policy.get("objectId")
        ev.note(f"{where}.objectId", object_id)
        for grant in grants:
            ev.note(f"{where}.permissions.{grant.kind}", grant.evidence())
        shown = object_id if isinstance(object_id, str) and object_id else "no objectId"
        offenders.append(f"#{index} {shown} ({'; '.join(g.shown for g in grants)})")
    if not offenders:
        ev.note(
            "properties.accessPolicies[*].objectId",
            [p.get("objectId") for p in policies if isinstance(p, Mapping)],
        )
        if not policies:
            return ev.passed("The vault has no access policies.")
        return ev.passed(
            f"No access policy (of {len(policies)}) grants all, purge or management permissions."
        )
    named = ", ".join(offenders[:_NAMED_IN_REASON])
    more = len(offenders) - _NAMED_IN_REASON
    suffix = f" and {more} more" if more > 0 else ""
    return ev.failed(f"Access policies grant broad permissions: {named}{suffix}.")
