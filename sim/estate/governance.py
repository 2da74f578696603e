"""Governance: subscriptions and resource groups, policy assignments, role definitions (built-in
and custom) and role assignments (Microsoft.Authorization orders ``id``, ``type``, ``name``)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.estate.common import (
    INSIGHTS,
    Doc,
    guid,
    header,
    rg_id,
    sub_id,
    system_identity,
    ts,
)

HIPAA_INITIATIVE = "a169a624-5599-4385-a696-c8d643089fab"
HIPAA_INITIATIVE_ID = f"/providers/Microsoft.Authorization/policySetDefinitions/{HIPAA_INITIATIVE}"
MCSB_ID = (
    "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
)
ALLOWED_LOCATIONS_ID = (
    "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c"
)
_ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"


def subscription(sub: str, tenant: str, name: str, tags: dict[str, str], quota: str) -> Doc:
    """Subscriptions_Get: no ``type`` field; the id says what it is."""
    return {
        "id": sub_id(sub),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "tags": dict(tags),
        "subscriptionId": sub,
        "tenantId": tenant,
        "displayName": name,
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": quota,
            "spendingLimit": "Off",
        },
    }


def resource_group(sub: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    return {
        **header(rg_id(sub, name), name, "Microsoft.Resources/resourceGroups", location, tags),
        "properties": {"provisioningState": "Succeeded"},
    }


def policy_assignment(
    scope: str,
    name: str,
    display_name: str,
    definition_id: str,
    tenant: str,
    *,
    location: str = "",
    parameters: Doc | None = None,
    enforcement: str = "Default",
    created: int = 0,
) -> Doc:
    """PolicyAssignments_Get (2023-04-01 field set); DeployIfNotExists sets need an identity."""
    rid = f"{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"
    doc: Doc = {
        "properties": {
            "displayName": display_name,
            "metadata": {
                "assignedBy": "Cloud Platform Team",
                "createdBy": guid("principal", "platform-automation"),
                "createdOn": ts(created),
                "parameterScopes": {},
            },
            "policyDefinitionId": definition_id,
            "notScopes": [],
            "parameters": dict(parameters or {}),
            "enforcementMode": enforcement,
            "scope": scope,
        },
        **header(
            rid,
            name,
            "Microsoft.Authorization/policyAssignments",
            location or None,
            order=INSIGHTS,
        ),
    }
    if location:
        doc["identity"] = system_identity(rid, tenant)
    return doc


# name: (guid, description, actions, dataActions)
BUILT_IN_ROLES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "Owner": (
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC.",
        ("*",),
        (),
    ),
    "Contributor": (
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Grants full access to manage all resources, but does not allow you to assign "
        "roles in Azure RBAC.",
        ("*",),
        (),
    ),
    "Reader": (
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "View all resources, but does not allow you to make any changes.",
        ("*/read",),
        (),
    ),
    "User Access Administrator": (
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "Lets you manage user access to Azure resources.",
        ("*/read", "Microsoft.Authorization/*"),
        (),
    ),
    "Storage Blob Data Contributor": (
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Allows for read, write and delete access to Azure Storage blob containers and data",
        ("Microsoft.Storage/storageAccounts/blobServices/containers/*",),
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*",),
    ),
    "Key Vault Administrator": (
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "Perform all data plane operations on a key vault and all objects "
        "in it, including certificates, keys, and secrets.",
        (
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/vaults/*/read",
        ),
        ("Microsoft.KeyVault/vaults/*",),
    ),
    "Key Vault Crypto Service Encryption User": (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults "
        "that use the 'Azure role-based access control' permission model.",
        ("Microsoft.EventGrid/eventSubscriptions/write",),
        (
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ),
    ),
    "Key Vault Secrets User": (
        "4633458b-17de-408a-b874-0445c86b69e6",
        "Read secret contents.",
        (),
        (
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
}


def role_definition_id(sub: str, role_guid: str) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}"


def role_definition(sub: str, role: str) -> Doc:
    """RoleDefinitions_Get for a built-in role, as read at a subscription scope."""
    role_guid, description, actions, data_actions = BUILT_IN_ROLES[role]
    return {
        "properties": {
            "roleName": role,
            "type": "BuiltInRole",
            "description": description,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(actions),
                    "notActions": [],
                    "dataActions": list(data_actions),
                    "notDataActions": [],
                }
            ],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-04-16T20:23:45.6520549Z",
            "createdBy": None,
            "updatedBy": None,
        },
        **header(
            role_definition_id(sub, role_guid),
            role_guid,
            _ROLE_DEFINITIONS,
            order=INSIGHTS,
        ),
    }


def custom_role(sub: str, name: str, description: str, actions: Sequence[str]) -> Doc:
    role_guid = guid(sub, "custom-role", name)
    author = guid("principal", "platform-automation")
    return {
        "properties": {
            "roleName": name,
            "type": "CustomRole",
            "description": description,
            "assignableScopes": [sub_id(sub)],
            "permissions": [
                {
                    "actions": list(actions),
                    "notActions": [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
            "createdOn": ts(300),
            "updatedOn": ts(300),
            "createdBy": author,
            "updatedBy": author,
        },
        **header(
            role_definition_id(sub, role_guid),
            role_guid,
            _ROLE_DEFINITIONS,
            order=INSIGHTS,
        ),
    }


def role_assignment(
    scope: str,
    sub: str,
    role_guid: str,
    principal_id: str,
    principal_type: str,
    *,
    name: str | None = None,
    created: int = 0,
    description: str | None = None,
) -> Doc:
    """RoleAssignments_Get (2022-04-01 field set)."""
    assignment = name or guid(scope, role_guid, principal_id)
    author = guid("principal", "platform-automation")
    return {
        "properties": {
            "roleDefinitionId": role_definition_id(sub, role_guid),
            "principalId": principal_id,
            "principalType": principal_type,
            "scope": scope,
            "condition": None,
            "conditionVersion": None,
            "createdOn": ts(created),
            "updatedOn": ts(created),
            "createdBy": author,
            "updatedBy": author,
            "delegatedManagedIdentityResourceId": None,
            "description": description,
        },
        **header(
            f"{scope}/providers/Microsoft.Authorization/roleAssignments/{assignment}",
            assignment,
            "Microsoft.Authorization/roleAssignments",
            order=INSIGHTS,
        ),
    }


# --- Microsoft Defender for Cloud (issue 14) ------------------------------------------------------

DEFENDER_PLANS = (
    "VirtualMachines",
    "SqlServers",
    "AppServices",
    "StorageAccounts",
    "SqlServerVirtualMachines",
    "KeyVaults",
    "Arm",
    "OpenSourceRelationalDatabases",
    "CosmosDbs",
    "Containers",
    "CloudPosture",
    "Api",
)


def defender_pricing(sub: str, plan: str, tier: str) -> Doc:
    """Pricings_Get (2024-01-01): one Defender plan of a subscription."""
    props: Doc = {"pricingTier": tier, "freeTrialRemainingTime": "PT0S"}
    if tier == "Standard":
        props["enablementTime"] = "2023-03-01T12:42:42.1921106Z"
        sub_plans = {"VirtualMachines": "P2", "StorageAccounts": "DefenderForStorageV2"}
        if plan in sub_plans:
            props["subPlan"] = sub_plans[plan]
    return {
        "id": f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{plan}",
        "name": plan,
        "type": "Microsoft.Security/pricings",
        "properties": props,
    }


def security_contact(sub: str, emails: str, *, minimal_severity: str, owners: bool) -> Doc:
    """SecurityContacts_Get (2023-12-01-preview): the subscription's ``default`` contact."""
    return {
        "id": f"/subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default",
        "name": "default",
        "type": "Microsoft.Security/securityContacts",
        "properties": {
            "emails": emails,
            "phone": "",
            "isEnabled": True,
            "notificationsSources": [
                {"sourceType": "Alert", "minimalSeverity": minimal_severity},
                {"sourceType": "AttackPath", "minimalRiskLevel": "Critical"},
            ],
            "notificationsByRole": {"state": "On" if owners else "Off", "roles": ["Owner"]},
        },
    }


def sql_vulnerability_assessment(server_id: str, *, enabled: bool) -> Doc:
    """SqlVulnerabilityAssessmentsSettings_Get: the express configuration of a server."""
    return {
        "id": f"{server_id}/sqlVulnerabilityAssessments/default",
        "name": "default",
        "type": "Microsoft.Sql/servers/sqlVulnerabilityAssessments",
        "properties": {"state": "Enabled" if enabled else "Disabled"},
    }


def jit_policy(sub: str, rg: str, location: str, vm_ids: list[str]) -> Doc:
    """JitNetworkAccessPolicies_Get (2020-01-01): RDP and SSH on request, three hours at most."""
    ports = [
        {
            "number": number,
            "protocol": "*",
            "allowedSourceAddressPrefix": "*",
            "maxRequestAccessDuration": "PT3H",
        }
        for number in (22, 3389)
    ]
    return {
        "id": (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/locations/"
            f"{location}/jitNetworkAccessPolicies/default"
        ),
        "name": "default",
        "type": "Microsoft.Security/locations/jitNetworkAccessPolicies",
        "kind": "Basic",
        "location": location,
        "properties": {
            "virtualMachines": [{"id": vm, "ports": [dict(p) for p in ports]} for vm in vm_ids],
            "requests": [],
            "provisioningState": "Succeeded",
        },
    }
