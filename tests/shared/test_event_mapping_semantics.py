"""Which resource an ARM event makes phiguard re-evaluate, checked against the published shapes.

Sources:

* ARM resource id grammar: ``resourceId`` template function and "Extension resource types",
  https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource#resourceid
  https://learn.microsoft.com/azure/azure-resource-manager/management/extension-resource-types
* Resource name rules (a storage account name is 3-24 lowercase letters and digits, so
  ``providers`` is one), https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
* Event Grid "Azure subscription as an Event Grid source" and "Azure Resource Notifications -
  Resource Management events" (the payloads in ``shared/reference/eventgrid``).
* azure-rest-api-specs: ``Keys_CreateIfNotExist`` (``PUT .../vaults/{v}/keys/{k}``, type
  ``Microsoft.KeyVault/vaults/keys``), ``Tags_CreateOrUpdateAtScope``
  (``PUT {scope}/providers/Microsoft.Resources/tags/default``), ``ClassicAdministrators_List``
  (``/subscriptions/{id}/providers/Microsoft.Authorization/classicAdministrators/{name}``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.engine import Engine
from shared.events import affected_resource, parse_delivery
from shared.events import resources as event_resources
from shared.kernel.changes import ChangeKind
from shared.kernel.related import RELATED
from shared.kernel.resource_id import ResourceIdError, canonical, parent, parse

SUB = "7d1f2c3a-0000-4000-8000-00000000a001"
RG = f"/subscriptions/{SUB}/resourceGroups/phi-rg"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg1"
SITE = f"{RG}/providers/Microsoft.Web/sites/app1"
SQL = f"{RG}/providers/Microsoft.Sql/servers/sql1"
DB = f"{SQL}/databases/db1"
SA = f"{RG}/providers/Microsoft.Storage/storageAccounts/sa1"
KV = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
DIAG = "providers/Microsoft.Insights/diagnosticSettings/send-to-law"
SUPPORTED = frozenset(Engine().supported_types())

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION = "Microsoft.Resources.ResourceActionSuccess"


def _load(reference_dir: Path, name: str) -> dict[str, Any]:
    document = json.loads((reference_dir / "eventgrid" / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _arm_event(
    reference_dir: Path,
    resource_id: str,
    *,
    event_type: str = WRITE,
    operation: str = "Microsoft.Storage/storageAccounts/write",
    schema: str = "eventgrid-schema",
    subject: str | None = None,
) -> dict[str, Any]:
    """The published ResourceWriteSuccess example with the resource, operation and type swapped
    (and its subscription made consistent)."""
    event = copy.deepcopy(
        _load(
            reference_dir,
            f"{schema}__Microsoft.Resources.ResourceWriteSuccess__rest-api-specs.json",
        )
    )
    data = event["data"]
    data["resourceUri"] = resource_id
    data["operationName"] = operation
    data["authorization"]["action"] = operation
    data["authorization"]["scope"] = resource_id
    data["subscriptionId"] = SUB
    event["subject"] = resource_id if subject is None else subject
    if schema == "cloudevents-1.0":
        event["type"] = event_type
        event["source"] = f"/subscriptions/{SUB}"
    else:
        event["eventType"] = event_type
        event["topic"] = f"/subscriptions/{SUB}"
    return event


def _notification(reference_dir: Path, resource_id: str, deleted: bool = False) -> dict[str, Any]:
    name = (
        "eventgrid-schema__Microsoft.ResourceNotifications.Resources.Deleted__rest-api-specs.json"
        if deleted
        else "eventgrid-schema__Microsoft.ResourceNotifications.Resources.CreatedOrUpdated__"
        "rest-api-specs.json"
    )
    event = copy.deepcopy(_load(reference_dir, name))
    event["topic"] = f"/subscriptions/{SUB}"
    event["subject"] = resource_id
    event["data"]["resourceInfo"]["id"] = resource_id
    return event


# --------------------------------------------------------------------------------------------
# The mappings the catalog needs


@pytest.mark.parametrize(
    ("changed", "operation", "affected"),
    [
        (
            f"{NSG}/securityRules/allow-rdp",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            NSG,
        ),
        (f"{SITE}/config/web", "Microsoft.Web/sites/config/write", SITE),
        (
            f"{DB}/transparentDataEncryption/current",
            "Microsoft.Sql/servers/databases/transparentDataEncryption/write",
            DB,
        ),
        (f"{SA}/blobServices/default", "Microsoft.Storage/storageAccounts/blobServices/write", SA),
        (f"{SA}/{DIAG}", "Microsoft.Insights/diagnosticSettings/write", SA),
        (f"{KV}/{DIAG}", "Microsoft.Insights/diagnosticSettings/write", KV),
        (f"{DB}/{DIAG}", "Microsoft.Insights/diagnosticSettings/write", DB),
        (
            f"{SA}/blobServices/default/{DIAG}",
            "Microsoft.Insights/diagnosticSettings/write",
            SA,
        ),
        (f"/subscriptions/{SUB}/{DIAG}", "Microsoft.Insights/diagnosticSettings/write", None),
        # Regression: a key created through ARM (Keys_CreateIfNotExist) is a vault change; the
        # vault's checks read its key list. It used to be ignored as an unsupported type.
        (f"{KV}/keys/cmk-2026", "Microsoft.KeyVault/vaults/keys/write", KV),
        # Regression: the Tags API writes tags through an extension resource of the scope.
        (
            f"{SA}/providers/Microsoft.Resources/tags/default",
            "Microsoft.Resources/tags/write",
            SA,
        ),
        (f"{RG}/providers/Microsoft.Resources/tags/default", "Microsoft.Resources/tags/write", RG),
        (
            f"/subscriptions/{SUB}/providers/Microsoft.Resources/tags/default",
            "Microsoft.Resources/tags/write",
            None,
        ),
        # Regression: classic administrators are read by the subscription's checks.
        (
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/classicAdministrators/ca1",
            "Microsoft.Authorization/classicAdministrators/write",
            None,
        ),
        (
            f"{SA}/providers/Microsoft.Authorization/roleAssignments/"
            "b0f43c54-e787-4862-89b1-a653fa9cf747",
            "Microsoft.Authorization/roleAssignments/write",
            SA,
        ),
    ],
)
@pytest.mark.parametrize("schema", ["eventgrid-schema", "cloudevents-1.0"])
def test_a_change_is_filed_against_the_resource_whose_checks_it_affects(
    reference_dir: Path, changed: str, operation: str, affected: str | None, schema: str
) -> None:
    target = affected or f"/subscriptions/{SUB}"
    assert affected_resource(changed) == target
    event = _arm_event(reference_dir, changed, operation=operation, schema=schema)
    delivery = parse_delivery([event], supported_types=SUPPORTED)
    assert not delivery.poison and not delivery.ignored
    (change,) = delivery.changes
    assert (change.resource_id, change.source_id, change.kind) == (
        target,
        changed,
        ChangeKind.WRITE,
    )
    assert change.operation_name == operation


def test_every_child_document_the_catalog_reads_maps_to_a_checked_type() -> None:
    """A change of any related document fetched under a resource re-evaluates a resource type
    the catalog checks (regression: ``vaults/keys`` was ignored as an unsupported type)."""
    samples = {
        "microsoft.insights/diagnosticsettings": f"{SA}/{DIAG}",
        "microsoft.web/sites/config": f"{SITE}/config/web",
        "microsoft.sql/servers/databases/transparentdataencryption": (
            f"{DB}/transparentDataEncryption/current"
        ),
        "microsoft.sql/servers/databases/backuplongtermretentionpolicies": (
            f"{DB}/backupLongTermRetentionPolicies/default"
        ),
        "microsoft.operationalinsights/workspaces/tables": (
            f"{RG}/providers/Microsoft.OperationalInsights/workspaces/ws1/tables/SigninLogs"
        ),
        "microsoft.keyvault/vaults/keys": f"{KV}/keys/k1",
        "microsoft.sql/managedinstances/encryptionprotector": (
            f"{RG}/providers/Microsoft.Sql/managedInstances/mi1/encryptionProtector/current"
        ),
        "microsoft.dbforpostgresql/flexibleservers/configurations": (
            f"{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg1/configurations/"
            "require_secure_transport"
        ),
        "microsoft.dbformysql/flexibleservers/configurations": (
            f"{RG}/providers/Microsoft.DBforMySQL/flexibleServers/my1/configurations/"
            "audit_log_enabled"
        ),
        "microsoft.storage/storageaccounts/fileservices": f"{SA}/fileServices/default",
        "microsoft.storage/storageaccounts/blobservices": f"{SA}/blobServices/default",
        "microsoft.sql/servers/encryptionprotector": f"{SQL}/encryptionProtector/current",
        "microsoft.sql/servers/auditingsettings": f"{SQL}/auditingSettings/default",
        "microsoft.sql/servers/firewallrules": f"{SQL}/firewallRules/AllowAll",
        "microsoft.sql/servers/sqlvulnerabilityassessments": (
            f"{SQL}/sqlVulnerabilityAssessments/default"
        ),
        "microsoft.authorization/policyassignments": (
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/hipaa"
        ),
        "microsoft.authorization/roleassignments": (
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/ra1"
        ),
        "microsoft.authorization/classicadministrators": (
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/classicAdministrators/ca1"
        ),
        "microsoft.insights/activitylogalerts": (
            f"{RG}/providers/Microsoft.Insights/activityLogAlerts/alert1"
        ),
        "microsoft.security/pricings": (
            f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings/VirtualMachines"
        ),
        "microsoft.security/securitycontacts": (
            f"/subscriptions/{SUB}/providers/Microsoft.Security/securityContacts/default"
        ),
    }
    child_docs = {d.doc_type for d in RELATED.values() if d.fetch == "child"}
    missing = child_docs - samples.keys() - {"microsoft.network/networkwatchers/flowlogs"}
    assert not missing, f"add a sample id for {sorted(missing)}"
    for doc_type in sorted(child_docs & samples.keys()):
        rid = samples[doc_type]
        assert parse(rid).type == doc_type
        target = affected_resource(rid)
        assert parse(target).type in SUPPORTED, (doc_type, target)


def test_a_deleted_child_or_extension_is_a_write_of_what_it_belonged_to(
    reference_dir: Path,
) -> None:
    rule = f"{NSG}/securityRules/allow-rdp"
    events = [
        _arm_event(
            reference_dir,
            rule,
            event_type=DELETE,
            operation="Microsoft.Network/networkSecurityGroups/securityRules/delete",
        ),
        dict(
            _arm_event(
                reference_dir,
                f"{KV}/keys/k1",
                event_type=DELETE,
                operation="Microsoft.KeyVault/vaults/keys/delete",
            ),
            id="second",
        ),
        dict(_notification(reference_dir, f"{SA}/blobServices/default", deleted=True), id="n1"),
    ]
    delivery = parse_delivery(events, supported_types=SUPPORTED)
    assert not delivery.poison
    assert [(c.resource_id, c.kind) for c in delivery.changes] == [
        (NSG, ChangeKind.WRITE),
        (KV, ChangeKind.WRITE),
        (SA, ChangeKind.WRITE),
    ]


def test_resource_notifications_map_like_arm_events_and_embed_nothing(
    reference_dir: Path,
) -> None:
    """``data.resourceInfo.id`` names the resource; the embedded properties travel nowhere."""
    event = _notification(reference_dir, f"{SITE}/config/web")
    (change,) = parse_delivery([event], supported_types=SUPPORTED).changes
    assert (change.resource_id, change.kind) == (SITE, ChangeKind.WRITE)
    assert not hasattr(change, "properties")
    assert change.operation_name is None


def test_subject_and_resource_uri_casing_may_differ(reference_dir: Path) -> None:
    """The published Write examples say ``resourcegroups``, the Delete ones ``resourceGroups``."""
    lower = f"{NSG}/securityRules/r1".replace("resourceGroups", "resourcegroups")
    event = _arm_event(reference_dir, f"{NSG}/securityRules/r1", subject=lower.upper())
    (change,) = parse_delivery([event], supported_types=SUPPORTED).changes
    assert change.resource_id == NSG  # from data.resourceUri, casing kept


@pytest.mark.parametrize(
    ("operation", "read_only"),
    [
        ("Microsoft.Storage/storageAccounts/listKeys/action", True),
        ("Microsoft.Storage/storageAccounts/listAccountSas/action", True),
        ("Microsoft.EventHub/namespaces/AuthorizationRules/listKeys/action", True),
        ("Microsoft.Storage/storageAccounts/regenerateKey/action", False),
    ],
)
def test_actions_that_only_read_are_not_changes(
    reference_dir: Path, operation: str, read_only: bool
) -> None:
    event = _arm_event(reference_dir, SA, event_type=ACTION, operation=operation)
    delivery = parse_delivery([event], supported_types=SUPPORTED)
    if read_only:
        assert delivery.ignored == {"read_only_action": 1} and not delivery.changes
    else:
        assert [(c.resource_id, c.kind) for c in delivery.changes] == [(SA, ChangeKind.ACTION)]


# --------------------------------------------------------------------------------------------
# Ids read by position


@pytest.mark.parametrize(
    ("rid", "rtype", "up"),
    [
        # A storage account may be named "providers" (3-24 lowercase letters and digits).
        (
            f"{RG}/providers/Microsoft.Storage/storageAccounts/providers",
            "microsoft.storage/storageaccounts",
            RG,
        ),
        (
            f"{RG}/providers/Microsoft.Storage/storageAccounts/providers/blobServices/default",
            "microsoft.storage/storageaccounts/blobservices",
            f"{RG}/providers/Microsoft.Storage/storageAccounts/providers",
        ),
        (
            f"{RG}/providers/Microsoft.Network/networkSecurityGroups/providers/securityRules/r1",
            "microsoft.network/networksecuritygroups/securityrules",
            f"{RG}/providers/Microsoft.Network/networkSecurityGroups/providers",
        ),
        (
            f"{SA}/providers/Microsoft.Insights/diagnosticSettings/providers",
            "microsoft.insights/diagnosticsettings",
            SA,
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/providers/providers/Microsoft.Web/sites/a",
            "microsoft.web/sites",
            f"/subscriptions/{SUB}/resourceGroups/providers",
        ),
        (
            "/providers/Microsoft.Management/managementGroups/mg1/providers/"
            "Microsoft.Authorization/roleAssignments/ra1",
            "microsoft.authorization/roleassignments",
            "/providers/Microsoft.Management/managementGroups/mg1",
        ),
        # Published (roleAssignmentSchedules ListForScope): a subscription addressed as a
        # resource of Microsoft.Subscription, with an extension on it.
        (
            "/providers/Microsoft.Subscription/subscriptions/dfa2a084-766f-4003-8ae1-"
            "c4aeb893a99f/providers/Microsoft.Authorization/RoleAssignmentSchedules/c9e264ff",
            "microsoft.authorization/roleassignmentschedules",
            "/providers/Microsoft.Subscription/subscriptions/dfa2a084-766f-4003-8ae1-c4aeb893a99f",
        ),
    ],
)
def test_providers_is_a_keyword_only_where_a_type_may_stand(rid: str, rtype: str, up: str) -> None:
    """Regression: the parser took the *last* ``providers`` segment as the extension boundary,
    so a resource named ``providers`` made its id (and every event about it) poison."""
    assert parse(rid).type == rtype
    assert parent(rid) == up
    assert canonical(rid) == rid


def test_a_resource_named_providers_is_re_evaluated(reference_dir: Path) -> None:
    account = f"{RG}/providers/Microsoft.Storage/storageAccounts/providers"
    event = _arm_event(reference_dir, f"{account}/blobServices/default")
    delivery = parse_delivery([event], supported_types=SUPPORTED)
    assert not delivery.poison
    assert [c.resource_id for c in delivery.changes] == [account]


# --------------------------------------------------------------------------------------------
# Hostile ids: poison naming what was wrong, never a read of another resource


@pytest.mark.parametrize(
    ("rid", "error"),
    [
        # Regression: a subscription id followed by no "resourceGroups" (or a missing
        # subscription id, the double slash dropped) parsed as a resource of the subscription
        # "resourceGroups" or of no resource group, and was read.
        (
            f"/subscriptions/{SUB}/phi-rg/providers/Microsoft.Storage/storageAccounts/sa1",
            "expected 'resourceGroups' or 'providers' after the subscription, got 'phi-rg'",
        ),
        (
            "/subscriptions//resourceGroups/phi-rg/providers/Microsoft.Storage/storageAccounts/sa1",
            "expected 'resourceGroups' or 'providers' after the subscription, got 'phi-rg'",
        ),
        (
            f"{RG}/Microsoft.Storage/storageAccounts/sa1/{DIAG}",
            "expected 'providers' after the resource group, got 'Microsoft.Storage'",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups//providers/Microsoft.Storage/storageAccounts/sa1",
            "expected 'providers' after the resource group, got 'Microsoft.Storage'",
        ),
        (f"{SA}/blobServices", "id ends in a collection, not a resource"),
        # The NSG name is missing: dropping the empty segment shifts every pair.
        (
            f"{RG}/providers/Microsoft.Network/networkSecurityGroups//securityRules/r1",
            "id ends in a collection, not a resource",
        ),
        (f"{SA}/../../sa2", "dot segment"),
        (f"{SA}/./blobServices/default", "dot segment"),
        (SA.replace("sa1", "sa%31"), "characters no ARM id has ('%')"),
        (SA.replace("phi-rg", "phi%2Frg"), "characters no ARM id has ('%')"),
        (f"{SA}?api-version=2017-01-01", "characters no ARM id has ('?')"),
    ],
)
def test_hostile_ids_are_poison_naming_what_was_wrong(
    reference_dir: Path, rid: str, error: str
) -> None:
    with pytest.raises(ResourceIdError, match=re.escape(error)):
        canonical(rid)
    delivery = parse_delivery([_arm_event(reference_dir, rid)], supported_types=SUPPORTED)
    assert not delivery.changes and not delivery.ignored
    (poison,) = delivery.poison
    assert poison.error.startswith("event[0].data.resourceUri: "), poison.error
    assert error in poison.error


@pytest.mark.parametrize(
    "rid",
    [
        f"{SA}/",
        f"//{SA.lstrip('/')}//",
        SA.replace("/providers/", "//providers//"),
        SA.upper(),
        SA.replace("resourceGroups", "RESOURCEGROUPS").replace("sa1", "SA1"),
    ],
)
def test_benign_spellings_name_the_same_resource(reference_dir: Path, rid: str) -> None:
    (change,) = parse_delivery([_arm_event(reference_dir, rid)], supported_types=SUPPORTED).changes
    assert change.resource_id.lower() == SA.lower()
    assert canonical(change.resource_id) == change.resource_id


def test_a_protected_item_name_cannot_compose_a_dot_segment_id(reference_dir: Path) -> None:
    """Regression: the VM id composed from ``VM;iaasvmcontainerv2;{rg};{vm}`` took the names as
    they came, so ``..`` made an id an HTTP client resolves to another path."""
    item = (
        f"{RG}/providers/Microsoft.RecoveryServices/vaults/rsv1/backupFabrics/Azure/"
        "protectionContainers/IaasVMContainer;iaasvmcontainerv2;phi-rg;vm1/protectedItems/"
    )
    good = parse_delivery([_arm_event(reference_dir, item + "VM;iaasvmcontainerv2;phi-rg;vm1")])
    assert [c.resource_id for c in good.changes] == [
        f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
    ]
    for name in ("VM;iaasvmcontainerv2;..;..", "VM;iaasvmcontainerv2;phi-rg;.", "VM;x; ;vm1"):
        with pytest.raises(ResourceIdError, match="dot segment"):
            affected_resource(item + name)
        delivery = parse_delivery([_arm_event(reference_dir, item + name)])
        assert not delivery.changes
        (poison,) = delivery.poison
        assert poison.error.startswith("event[0].data.resourceUri: the resource it affects")


def test_huge_ids_are_mapped_without_being_held(reference_dir: Path) -> None:
    """Regression: the mapping caches kept every id whatever its length, so a feed of huge
    distinct ids (an event may be up to 1 MB) filled memory."""
    cached = event_resources._affected_resource_cached
    cached.cache_clear()  # pure functions: clearing only costs recomputation
    event_resources._type_of_cached.cache_clear()
    held = held_types = 0
    for i in range(20):
        account = f"{SA}{i}" + "x" * 200_000
        event = _arm_event(reference_dir, f"{account}/blobServices/default/{DIAG}")
        (change,) = parse_delivery([event], supported_types=SUPPORTED).changes
        assert change.resource_id == account
    assert cached.cache_info().currsize == held
    assert event_resources._type_of_cached.cache_info().currsize == held_types
    assert affected_resource(f"{SA}/blobServices/default") == SA  # short ids are still kept
    assert cached.cache_info().currsize == held + 1


@pytest.mark.parametrize(
    "group",
    [
        "rg.(phi)_données-1",  # periods, parentheses, underscores, hyphens, Unicode letters
        "r" * 90,  # the longest resource group name
        "providers",
        "resourceGroups",
    ],
)
def test_legitimate_names_are_kept_as_they_are(reference_dir: Path, group: str) -> None:
    """Resource group names may hold ``()._-`` and Unicode letters (up to 90 characters);
    names inside an id may hold spaces (an alert rule's ``PHI admin changes``)."""
    rg = f"/subscriptions/{SUB}/resourceGroups/{group}"
    nsg = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg.web (1)"
    alert = f"{rg}/providers/Microsoft.Insights/activityLogAlerts/PHI admin changes"
    events = [
        _arm_event(reference_dir, f"{nsg}/securityRules/allow 443"),
        dict(_arm_event(reference_dir, alert), id="second"),
    ]
    delivery = parse_delivery(events, supported_types=SUPPORTED)
    assert not delivery.poison
    assert [(c.resource_id, c.source_id) for c in delivery.changes] == [
        (nsg, f"{nsg}/securityRules/allow 443"),
        (f"/subscriptions/{SUB}", alert),
    ]
    assert parse(nsg).resource_group == group


# --------------------------------------------------------------------------------------------
# Real subscription events about no resource, and times out of range


@pytest.mark.parametrize("schema", ["eventgrid-schema", "cloudevents-1.0"])
def test_a_provider_registration_is_ignored_not_poison(reference_dir: Path, schema: str) -> None:
    """``register/action`` on ``/subscriptions/{s}/providers/Microsoft.Storage`` is a real event
    of a subscription topic about no resource: counted as unsupported, never a poison record."""
    event = _arm_event(
        reference_dir,
        f"/subscriptions/{SUB}/providers/Microsoft.Storage",
        event_type="Microsoft.Resources.ResourceActionSuccess",
        operation="Microsoft.Storage/register/action",
        schema=schema,
    )
    delivery = parse_delivery(json.dumps([event]).encode(), {}, supported_types=SUPPORTED)
    assert delivery.poison == [] and delivery.changes == []
    assert delivery.ignored == {"unsupported_type": 1}


def test_an_event_time_before_the_first_instant_is_poison_naming_the_time(
    reference_dir: Path,
) -> None:
    event = _arm_event(reference_dir, SA)
    event["eventTime"] = "0001-01-01T00:30:00+01:00"  # 31 Dec of year 0 in UTC
    delivery = parse_delivery(json.dumps([event]).encode(), {}, supported_types=SUPPORTED)
    [poison] = delivery.poison
    assert "eventTime" in poison.error and "out of range" in poison.error
