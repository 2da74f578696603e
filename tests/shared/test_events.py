"""Event Grid deliveries → ResourceChange: reference payloads, mapping, ignore rules, poison."""

from __future__ import annotations

import base64
import copy
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from shared.events import (
    MAX_RAW_CHARS,
    affected_resource,
    change_from_function_event,
    clean_resource_id,
    is_read_only_action,
    parse_delivery,
    parse_event_time,
    supported,
)
from shared.kernel.changes import ChangeKind
from shared.kernel.resource_id import ResourceIdError, normalize

RG = "/subscriptions/sub1/resourceGroups/rg1"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg1"
SA = f"{RG}/providers/Microsoft.Storage/storageAccounts/sa1"
SITE = f"{RG}/providers/Microsoft.Web/sites/app1"
SQL = f"{RG}/providers/Microsoft.Sql/servers/sql1"
WS = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/ws1"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet1"
KV = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
FLOW_LOG = f"{RG}/providers/Microsoft.Network/networkWatchers/nw1/flowLogs/fl1"
DIAG = "providers/Microsoft.Insights/diagnosticSettings/ds1"

SUPPORTED = {
    "microsoft.network/networksecuritygroups",
    "microsoft.storage/storageaccounts",
    "microsoft.web/sites",
    "microsoft.sql/servers",
    "microsoft.sql/servers/databases",
    "microsoft.resources/subscriptions",
}

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION = "Microsoft.Resources.ResourceActionSuccess"


def _eg(
    event_type: str = WRITE,
    uri: str | None = SA,
    *,
    event_id: str = "e1",
    event_time: str = "2024-05-01T10:00:00.1234567Z",
    operation: str | None = "Microsoft.Storage/storageAccounts/write",
    **data: Any,
) -> dict[str, Any]:
    """An Event Grid schema ARM event in the published shape (subject = resourceUri)."""
    body: dict[str, Any] = {
        "claims": {"appid": "app-1"},
        "correlationId": "corr-1",
        "subscriptionId": "sub1",
        "status": "Succeeded",
        **data,
    }
    if uri is not None:
        body["resourceUri"] = uri
    if operation is not None:
        body["operationName"] = operation
    return {
        "id": event_id,
        "topic": RG,
        "subject": uri or "",
        "eventType": event_type,
        "eventTime": event_time,
        "data": body,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


def _ce(event_type: str = WRITE, uri: str = SA, *, event_id: str = "c1") -> dict[str, Any]:
    eg = _eg(event_type, uri, event_id=event_id)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": RG,
        "subject": uri,
        "type": event_type,
        "time": eg["eventTime"],
        "data": eg["data"],
    }


def _load(reference_dir: Path, name: str) -> Any:
    return json.loads((reference_dir / "eventgrid" / name).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# Reference payloads

STORAGE_WRITE = (
    "/subscriptions/{subscription-id}/resourcegroups/{resource-group}/providers/"
    "Microsoft.Storage/storageAccounts/{storage-name}"
)
STORAGE_DELETE = STORAGE_WRITE.replace("resourcegroups", "resourceGroups")
WRITE_TIME = datetime(2018, 7, 19, 18, 38, 4, 611735, tzinfo=UTC)
DELETE_TIME = datetime(2018, 7, 19, 19, 24, 12, 763881, tzinfo=UTC)

# file → (kind or ignore reason, resource id, event time)
REFERENCE_EXPECTED: dict[str, tuple[str, str | None, datetime | None]] = {
    "eventgrid-schema__Microsoft.Resources.ResourceWriteSuccess__rest-api-specs.json": (
        "write",
        STORAGE_WRITE,
        WRITE_TIME,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceWriteSuccess__azure-docs-array.json": (
        "write",
        STORAGE_WRITE,
        WRITE_TIME,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceWriteSuccess__azure-docs-subscription-topic-array.json": (
        "write",
        STORAGE_WRITE,
        WRITE_TIME,
    ),
    "cloudevents-1.0__Microsoft.Resources.ResourceWriteSuccess__rest-api-specs.json": (
        "write",
        STORAGE_WRITE,
        WRITE_TIME,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceDeleteSuccess__rest-api-specs.json": (
        "delete",
        STORAGE_DELETE,
        DELETE_TIME,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceDeleteSuccess__azure-docs-array.json": (
        "delete",
        STORAGE_DELETE,
        DELETE_TIME,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceDeleteSuccess__azure-docs-subscription-topic-array.json": (
        "delete",
        STORAGE_DELETE,
        DELETE_TIME,
    ),
    "cloudevents-1.0__Microsoft.Resources.ResourceDeleteSuccess__rest-api-specs.json": (
        "delete",
        STORAGE_DELETE,
        DELETE_TIME,
    ),
    # listKeys on an Event Hubs authorization rule: a read-only action.
    "eventgrid-schema__Microsoft.Resources.ResourceActionSuccess__rest-api-specs.json": (
        "read_only_action",
        None,
        None,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceActionSuccess__azure-docs-array.json": (
        "read_only_action",
        None,
        None,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceActionSuccess__azure-docs-subscription-topic-array.json": (
        "read_only_action",
        None,
        None,
    ),
    "cloudevents-1.0__Microsoft.Resources.ResourceActionSuccess__rest-api-specs.json": (
        "read_only_action",
        None,
        None,
    ),
    "eventgrid-schema__Microsoft.Resources.ResourceWriteFailure__rest-api-specs.json": (
        "failure",
        None,
        None,
    ),
    "cloudevents-1.0__Microsoft.Resources.ResourceWriteFailure__rest-api-specs.json": (
        "failure",
        None,
        None,
    ),
    # ResourceNotifications: accepted; the stray space in "{subscription-id} /resourceGroups" is
    # cleaned; the id comes from data.resourceInfo.id (whose subscription is misspelled as
    # published).
    "eventgrid-schema__Microsoft.ResourceNotifications.Resources.CreatedOrUpdated__rest-api-specs.json": (
        "write",
        "/subscriptions/{subcription-id}/resourceGroups/{rg-name}/providers/"
        "Microsoft.Storage/storageAccounts/{storageAccount-name}",
        datetime(2023, 7, 28, 20, 13, 10, 841806, tzinfo=UTC),
    ),
    "cloudevents-1.0__Microsoft.ResourceNotifications.Resources.CreatedOrUpdated__rest-api-specs.json": (
        "write",
        "/subscriptions/{subcription-id}/resourceGroups/{rg-name}/providers/"
        "Microsoft.Storage/storageAccounts/{storageAccount-name}",
        datetime(2023, 7, 28, 20, 13, 10, 841806, tzinfo=UTC),
    ),
    "eventgrid-schema__Microsoft.ResourceNotifications.Resources.Deleted__rest-api-specs.json": (
        "delete",
        "/subscriptions/{subscription-id}/resourceGroups/{rg-name}/providers/"
        "Microsoft.Storage/storageAccounts/{storageAccount-name}",
        datetime(2023, 7, 28, 20, 11, 36, 634785, tzinfo=UTC),
    ),
}


def test_every_reference_file_is_covered(reference_dir: Path) -> None:
    names = {p.name for p in (reference_dir / "eventgrid").glob("*.json")}
    handled = set(REFERENCE_EXPECTED) | {
        "eventgrid-schema__Microsoft.EventGrid.SubscriptionValidationEvent__azure-docs.json",
        "eventgrid-schema__SubscriptionValidationResponse__azure-docs.json",
    }
    assert names == handled


@pytest.mark.parametrize("name", sorted(REFERENCE_EXPECTED))
def test_reference_event(reference_dir: Path, name: str) -> None:
    expected, resource_id, event_time = REFERENCE_EXPECTED[name]
    raw = (reference_dir / "eventgrid" / name).read_bytes()
    delivery = parse_delivery(raw)
    assert delivery.poison == []
    assert delivery.total == 1
    assert delivery.validation_code is None
    if resource_id is None:
        assert delivery.changes == []
        assert delivery.ignored == {expected: 1}
        return
    assert delivery.ignored == {}
    (change,) = delivery.changes
    assert change.kind == ChangeKind(expected)
    assert change.resource_id == resource_id == change.source_id
    assert change.event_time == event_time
    assert change.event_time.tzinfo is UTC
    assert change.event_type.split(".")[-1] in name
    if "ResourceNotifications" in name:
        assert change.caller_appid is None
        assert change.operation_name is None
    else:
        assert change.caller_appid == "{ID}"
        assert change.correlation_id == "{ID}"
        assert change.subscription_id == "{subscription-id}"
        assert change.operation_name == f"Microsoft.Storage/storageAccounts/{expected}"


def test_reference_events_in_one_mixed_batch(reference_dir: Path) -> None:
    """Both schemas in one array (the shape does not have to be uniform)."""
    events: list[Any] = []
    for name in sorted(REFERENCE_EXPECTED):
        loaded = _load(reference_dir, name)
        events.extend(loaded if isinstance(loaded, list) else [loaded])
    delivery = parse_delivery(events, supported_types=SUPPORTED)
    assert delivery.poison == []
    assert delivery.total == len(events)
    # The published examples reuse one event id per event across files and schemas (four
    # writes, four deletes, two CreatedOrUpdated): after the first, each copy is a duplicate.
    assert delivery.ignored == {
        "read_only_action": 4,
        "failure": 2,
        "duplicate_event": 3 + 3 + 1,
    }
    kinds = sorted(c.kind.value for c in delivery.changes)
    assert kinds == ["delete", "delete", "write", "write"]


def test_subscription_validation_handshake(reference_dir: Path) -> None:
    body = (
        reference_dir
        / "eventgrid"
        / "eventgrid-schema__Microsoft.EventGrid.SubscriptionValidationEvent__azure-docs.json"
    ).read_bytes()
    delivery = parse_delivery(body, {"aeg-event-type": "SubscriptionValidation"})
    assert delivery.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert delivery.validation_url is not None
    assert delivery.validation_url.startswith("https://rp-eastus2.eventgrid.azure.net:553/")
    expected = _load(
        reference_dir, "eventgrid-schema__SubscriptionValidationResponse__azure-docs.json"
    )
    assert delivery.validation_response == expected
    assert delivery.changes == [] and delivery.poison == [] and not delivery.ignored


def test_validation_response_file_is_not_an_event(reference_dir: Path) -> None:
    delivery = parse_delivery(
        _load(reference_dir, "eventgrid-schema__SubscriptionValidationResponse__azure-docs.json")
    )
    (poison,) = delivery.poison
    assert poison.error == (
        "event[0]: neither an Event Grid event (no 'eventType') nor a CloudEvent (no 'specversion')"
    )


def test_validation_header_without_a_validation_event_is_reported() -> None:
    delivery = parse_delivery([_eg()], {"AEG-Event-Type": "SubscriptionValidation"})
    assert len(delivery.changes) == 1
    (poison,) = delivery.poison
    assert poison.index is None
    assert poison.error.startswith("headers.aeg-event-type: SubscriptionValidation, but")


def test_validation_event_without_code_is_poison() -> None:
    event = {
        "id": "v",
        "subject": "",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2022-10-28T04:23:35.1981776Z",
        "data": {"validationUrl": "https://x"},
        "dataVersion": "1",
    }
    delivery = parse_delivery([event, _eg()], {"aeg-event-type": "SubscriptionValidation"})
    assert delivery.validation_code is None
    assert [p.error for p in delivery.poison] == ["event[0].data.validationCode: missing"]
    assert len(delivery.changes) == 1


# --------------------------------------------------------------------------------------------
# Kinds and ignore rules


def test_write_delete_action_in_both_schemas() -> None:
    rotate = "Microsoft.Storage/storageAccounts/regenerateKey/action"
    events = [
        _eg(WRITE, SA, event_id="1"),
        _eg(DELETE, NSG, event_id="2", operation="Microsoft.Network/networkSecurityGroups/delete"),
        _eg(ACTION, SA, event_id="3", operation=rotate),
        _ce(WRITE, SITE, event_id="4"),
        {**_ce(DELETE, SQL, event_id="5"), "specVersion": "1.0"},
    ]
    del events[4]["specversion"]
    delivery = parse_delivery(events)
    assert delivery.poison == [] and not delivery.ignored
    got = [(c.kind, c.resource_id, c.event_id) for c in delivery.changes]
    assert got == [
        (ChangeKind.WRITE, SA, "1"),
        (ChangeKind.DELETE, NSG, "2"),
        (ChangeKind.ACTION, SA, "3"),
        (ChangeKind.WRITE, SITE, "4"),
        (ChangeKind.DELETE, SQL, "5"),
    ]
    first = delivery.changes[0]
    assert first.caller_appid == "app-1"
    assert first.correlation_id == "corr-1"
    assert first.subscription_id == "sub1"
    assert first.event_time == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert delivery.changes[2].operation_name == rotate


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        ("Microsoft.Resources.ResourceWriteFailure", "failure"),
        ("Microsoft.Resources.ResourceDeleteFailure", "failure"),
        ("Microsoft.Resources.ResourceActionFailure", "failure"),
        ("Microsoft.Resources.ResourceWriteCancel", "cancel"),
        ("Microsoft.Resources.ResourceDeleteCancel", "cancel"),
        ("microsoft.resources.resourceactioncancel", "cancel"),
        ("Microsoft.Storage.BlobCreated", "not_a_resource_event"),
        ("Microsoft.EventGrid.SubscriptionDeletedEvent", "not_a_resource_event"),
        (
            "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
            "not_a_resource_event",
        ),
    ],
)
def test_ignored_event_types(event_type: str, reason: str) -> None:
    delivery = parse_delivery([_eg(event_type)])
    assert delivery.changes == [] and delivery.poison == []
    assert delivery.ignored == {reason: 1}


@pytest.mark.parametrize(
    "operation",
    [
        "Microsoft.Storage/storageAccounts/listKeys/action",
        "Microsoft.Storage/storageAccounts/listAccountSas/action",
        "Microsoft.Storage/storageAccounts/listServiceSas/action",
        "Microsoft.Storage/storageAccounts/listKeys",
        "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
        "Microsoft.Web/sites/config/list/action",
        "Microsoft.Web/sites/listCredentials/action",
        "Microsoft.DocumentDB/databaseAccounts/listConnectionStrings/action",
        "Microsoft.Web/sites/host/getKeys/action",
        "Microsoft.Web/sites/publishxml/action",
        "Microsoft.Resources/subscriptions/resourceGroups/exportTemplate/action",
        "Microsoft.Resources/deployments/whatIf/action",
        "Microsoft.Network/networkWatchers/ipFlowVerify/action",
        "Microsoft.Storage/storageAccounts/read",
        "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
    ],
)
def test_read_only_actions_are_ignored(operation: str) -> None:
    assert is_read_only_action(operation)
    delivery = parse_delivery([_eg(ACTION, SA, operation=operation)])
    assert delivery.ignored == {"read_only_action": 1}
    assert delivery.changes == []


@pytest.mark.parametrize(
    "operation",
    [
        "Microsoft.Storage/storageAccounts/regenerateKey/action",
        "Microsoft.Storage/storageAccounts/rotateKey/action",
        "Microsoft.Compute/virtualMachines/start/action",
        "Microsoft.Sql/servers/databases/pause/action",
        "Microsoft.KeyVault/vaults/accessPolicies/write",
    ],
)
def test_state_changing_actions_are_changes(operation: str) -> None:
    assert not is_read_only_action(operation)
    (change,) = parse_delivery([_eg(ACTION, SA, operation=operation)]).changes
    assert change.kind is ChangeKind.ACTION


def test_action_without_operation_name_uses_authorization_action_then_defaults_to_action() -> None:
    listing = _eg(ACTION, SA, event_id="1", operation=None)
    listing["data"]["authorization"] = {
        "action": "Microsoft.Storage/storageAccounts/listKeys/action"
    }
    unknown = _eg(ACTION, SA, event_id="2", operation=None)
    delivery = parse_delivery([listing, unknown])
    assert delivery.ignored == {"read_only_action": 1}
    assert [c.event_id for c in delivery.changes] == ["2"]
    assert delivery.changes[0].kind is ChangeKind.ACTION


def test_policy_audit_actions_are_not_changes() -> None:
    event = _eg(ACTION, SA, operation="Microsoft.Authorization/policies/audit/action")
    assert parse_delivery([event]).ignored == {"policy_evaluation": 1}


def test_unknown_cloudevents_version_is_poison() -> None:
    event = {**_ce(), "specversion": "0.3"}
    (poison,) = parse_delivery(event).poison
    assert poison.error == "event[0].specversion: unsupported CloudEvents version '0.3'"


def test_cloudevents_data_base64() -> None:
    event = _ce()
    data = event.pop("data")
    event["data_base64"] = base64.b64encode(json.dumps(data).encode()).decode()
    (change,) = parse_delivery(event).changes
    assert change.resource_id == SA


def test_cloudevents_binary_mode_from_headers() -> None:
    event = _ce(DELETE, NSG)
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-type": DELETE,
        "ce-source": RG,
        "ce-time": "2024-05-01T10:00:00Z",
        "ce-subject": NSG,
    }
    (change,) = parse_delivery(json.dumps(event["data"]), headers).changes
    assert (change.kind, change.resource_id, change.event_id) == (ChangeKind.DELETE, NSG, "b1")


def test_duplicate_event_ids_in_one_delivery() -> None:
    delivery = parse_delivery([_eg(event_id="same"), _eg(event_id="same")])
    assert len(delivery.changes) == 1
    assert delivery.ignored == {"duplicate_event": 1}
    # A poisoned event does not make a later good copy with its id a duplicate.
    broken = _eg(event_id="x", uri="not-an-id")
    delivery = parse_delivery([broken, _eg(event_id="x")])
    assert len(delivery.poison) == 1 and len(delivery.changes) == 1


def test_second_validation_event_is_counted() -> None:
    validation = {
        "id": "v1",
        "subject": "",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2022-10-28T04:23:35.1981776Z",
        "data": {"validationCode": "code-1"},
        "dataVersion": "1",
    }
    second = {**validation, "id": "v2", "data": {"validationCode": "code-2"}}
    delivery = parse_delivery([validation, second])
    assert delivery.validation_response == {"validationResponse": "code-1"}
    assert delivery.ignored == {"extra_validation_event": 1}
    assert delivery.total == 2


# --------------------------------------------------------------------------------------------
# Child → parent


@pytest.mark.parametrize(
    ("changed", "affected"),
    [
        (f"{NSG}/securityRules/allow-rdp", NSG),
        (f"{SITE}/config/web", SITE),
        (f"{SITE}/config/appsettings", SITE),
        (f"{SITE}/{DIAG}", SITE),
        (f"{SA}/{DIAG}", SA),
        (f"{SA}/blobServices/default/{DIAG}", SA),
        (f"{SA}/blobServices/default", SA),
        (f"{SA}/blobServices/default/containers/c1", f"{SA}/blobServices/default/containers/c1"),
        (f"{SQL}/databases/db1/transparentDataEncryption/current", f"{SQL}/databases/db1"),
        (f"{SQL}/encryptionProtector/current", SQL),
        (f"{SQL}/auditingSettings/default", SQL),
        (f"{SQL}/extendedAuditingSettings/default", SQL),
        (f"{SQL}/administrators/ActiveDirectory", SQL),
        (f"{SQL}/azureADOnlyAuthentications/Default", SQL),
        (f"{SQL}/databases/db1", f"{SQL}/databases/db1"),
        # Firewall rules are read by the server's checks (issue 14): the server.
        (f"{SQL}/firewallRules/fw1", SQL),
        (f"{SQL}/databases/db1/syncGroups/sg1", f"{SQL}/databases/db1/syncGroups/sg1"),
        (f"{WS}/tables/SigninLogs", WS),
        (f"{VNET}/subnets/default", VNET),
        (f"{KV}/accessPolicies/add", KV),
        (f"{SA}/privateEndpointConnections/pec1", SA),
        (FLOW_LOG, FLOW_LOG),
        (f"{SA}/providers/Microsoft.Authorization/roleAssignments/ra1", SA),
        (f"{RG}/providers/Microsoft.Authorization/roleAssignments/ra1", RG),
        (
            "/subscriptions/sub1/providers/Microsoft.Authorization/roleAssignments/ra1",
            "/subscriptions/sub1",
        ),
        (
            "/subscriptions/sub1/providers/Microsoft.Authorization/policyAssignments/hipaa",
            "/subscriptions/sub1",
        ),
        (f"{RG}/providers/Microsoft.Authorization/policyAssignments/pa1", "/subscriptions/sub1"),
        (f"{RG}/providers/Microsoft.Insights/activityLogAlerts/alert1", "/subscriptions/sub1"),
        (f"/subscriptions/sub1/{DIAG}", "/subscriptions/sub1"),
        (
            "/providers/Microsoft.Management/managementGroups/mg1/providers/"
            "Microsoft.Authorization/roleAssignments/ra1",
            "/providers/Microsoft.Management/managementGroups/mg1",
        ),
        (
            "/providers/Microsoft.Authorization/roleAssignments/ra1",
            "/providers/Microsoft.Authorization/roleAssignments/ra1",
        ),
        (SA, SA),
        (RG, RG),
        ("/subscriptions/sub1", "/subscriptions/sub1"),
    ],
)
def test_affected_resource(changed: str, affected: str) -> None:
    assert affected_resource(changed) == affected


def test_affected_resource_keeps_casing_and_maps_case_variants_to_one_key() -> None:
    lower = "/subscriptions/sub1/resourcegroups/RG1/providers/microsoft.web/sites/App1/config/web"
    assert affected_resource(lower) == (
        "/subscriptions/sub1/resourcegroups/RG1/providers/microsoft.web/sites/App1"
    )
    assert normalize(affected_resource(lower)) == normalize(
        "/subscriptions/SUB1/resourceGroups/rg1/providers/Microsoft.Web/sites/app1"
    )


def test_affected_resource_rejects_non_arm_ids() -> None:
    with pytest.raises(ResourceIdError):
        affected_resource("https://example.com/not-an-id")


def test_clean_resource_id() -> None:
    assert clean_resource_id("/subscriptions/s1 /resourceGroups/ rg /") == (
        "/subscriptions/s1/resourceGroups/rg"
    )
    assert clean_resource_id("subscriptions/s1//resourceGroups/rg") == (
        "/subscriptions/s1/resourceGroups/rg"
    )
    assert clean_resource_id(SA) == SA


def test_child_change_is_reported_against_the_parent() -> None:
    rule = f"{NSG}/securityRules/allow-rdp"
    events = [
        _eg(
            WRITE,
            rule,
            event_id="1",
            operation="Microsoft.Network/networkSecurityGroups/securityRules/write",
        ),
        _eg(
            DELETE,
            f"{SITE}/{DIAG}",
            event_id="2",
            operation="microsoft.insights/diagnosticSettings/delete",
        ),
        _eg(
            DELETE,
            FLOW_LOG,
            event_id="3",
            operation="Microsoft.Network/networkWatchers/flowLogs/delete",
        ),
    ]
    delivery = parse_delivery(events, supported_types=SUPPORTED)
    assert [(c.resource_id, c.source_id, c.kind) for c in delivery.changes] == [
        (NSG, rule, ChangeKind.WRITE),
        # A deleted diagnostic setting does not delete the site: the site changed.
        (SITE, f"{SITE}/{DIAG}", ChangeKind.WRITE),
        # A flow log keeps its id (the pipeline reads it for its target) and its kind.
        (FLOW_LOG, FLOW_LOG, ChangeKind.DELETE),
    ]
    assert delivery.changes[1].event_type == DELETE


def test_casing_variants_collapse_to_one_resource() -> None:
    lower = SA.replace("resourceGroups", "resourcegroups").replace(
        "Microsoft.Storage", "microsoft.storage"
    )
    events = [
        _eg(WRITE, lower, event_id="1", event_time="2024-05-01T10:00:01Z"),
        _eg(WRITE, SA, event_id="2", event_time="2024-05-01T10:00:02Z"),
        _eg(WRITE, f"{SA}/blobServices/default", event_id="3", event_time="2024-05-01T10:00:00Z"),
    ]
    delivery = parse_delivery(events)
    assert delivery.changes[0].resource_id == lower  # original casing kept
    assert len({normalize(c.resource_id) for c in delivery.changes}) == 1
    (latest,) = delivery.latest_per_resource()
    assert latest.event_id == "2"


# --------------------------------------------------------------------------------------------
# Supported types


def test_unsupported_affected_types_are_ignored() -> None:
    events = [
        _eg(WRITE, f"{RG}/providers/Microsoft.Resources/deployments/d1", event_id="1"),
        _eg(WRITE, f"{SA}/blobServices/default", event_id="2"),  # → storage account: supported
        _eg(WRITE, f"{SQL}/databases/db1/syncGroups/sg1", event_id="3"),
        _eg(WRITE, f"{SA}/{DIAG}", event_id="4"),
    ]
    delivery = parse_delivery(events, supported_types=SUPPORTED)
    assert delivery.ignored == {"unsupported_type": 2}
    assert [c.event_id for c in delivery.changes] == ["2", "4"]
    assert all(c.resource_id == SA for c in delivery.changes)


def test_scopes_are_always_supported_and_flow_logs_follow_their_targets() -> None:
    only_nsg = {"Microsoft.Network/networkSecurityGroups"}
    assert supported("microsoft.network/networksecuritygroups", only_nsg)
    assert supported("Microsoft.Resources/resourceGroups", only_nsg)
    assert supported("microsoft.resources/subscriptions", only_nsg)
    assert supported("microsoft.network/networkwatchers/flowlogs", only_nsg)
    assert not supported("microsoft.network/networkwatchers/flowlogs", {"microsoft.web/sites"})
    assert not supported("microsoft.web/sites", only_nsg)
    assert supported("anything/at-all")  # None = accept all

    role = f"{RG}/providers/Microsoft.Authorization/roleAssignments/ra1"
    events = [_eg(DELETE, role, event_id="1"), _eg(WRITE, FLOW_LOG, event_id="2")]
    delivery = parse_delivery(events, supported_types=only_nsg)
    assert [(c.resource_id, c.kind) for c in delivery.changes] == [
        (RG, ChangeKind.WRITE),
        (FLOW_LOG, ChangeKind.WRITE),
    ]
    assert parse_delivery(events, supported_types={"microsoft.web/sites"}).ignored == {
        "unsupported_type": 1
    }


# --------------------------------------------------------------------------------------------
# Poison


def test_body_that_is_not_json() -> None:
    delivery = parse_delivery(b"<html>502 Bad Gateway</html>")
    (poison,) = delivery.poison
    assert poison.index is None
    assert poison.error == "body: not JSON: Expecting value at line 1 column 1"
    assert poison.raw == "<html>502 Bad Gateway</html>"
    assert delivery.total == 1 and delivery.changes == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "body: empty"),
        (b"\xff\xfe{", "body: not UTF-8 text (invalid start byte at byte 0)"),
        ("42", "body: expected a JSON object or array, got number"),
        ('"text"', "body: expected a JSON object or array, got string"),
        ("[1, 2", "body: not JSON: Expecting ',' delimiter at line 1 column 6"),
    ],
)
def test_bodies_that_are_not_deliveries(body: bytes | str, error: str) -> None:
    (poison,) = parse_delivery(body).poison
    assert poison.error == error


def test_utf8_bom_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + json.dumps([_eg()]).encode()
    assert len(parse_delivery(body).changes) == 1


def test_malformed_events_do_not_break_the_batch() -> None:
    no_data = _eg(event_id="no-data")
    del no_data["data"]
    not_arm = _eg(uri="storage-account-1", event_id="not-arm")
    no_uri = _eg(uri=None, event_id="no-uri")
    bad_time = _eg(event_id="bad-time", event_time="yesterday")
    no_time = _eg(event_id="no-time")
    del no_time["eventTime"]
    data_list = {**_eg(event_id="data-list"), "data": []}
    uri_number = _eg(event_id="uri-number")
    uri_number["data"]["resourceUri"] = 7
    no_type = _eg(event_id="no-type")
    del no_type["eventType"]
    no_id = _eg()
    del no_id["id"]
    ce_no_type = _ce(event_id="ce")
    del ce_no_type["type"]
    good = [_eg(event_id=f"good-{i}") for i in range(3)]
    events: list[Any] = [
        good[0],
        no_data,
        not_arm,
        42,
        no_uri,
        good[1],
        bad_time,
        no_time,
        data_list,
        uri_number,
        no_type,
        no_id,
        ce_no_type,
        None,
        good[2],
    ]
    delivery = parse_delivery(json.dumps(events))
    assert [c.event_id for c in delivery.changes] == ["good-0", "good-1", "good-2"]
    assert [(p.index, p.error) for p in delivery.poison] == [
        (1, "event[1].data: missing"),
        (
            2,
            "event[2].data.resourceUri: not an ARM resource id (must start /subscriptions/ or "
            "/providers/): 'storage-account-1'",
        ),
        (3, "event[3]: expected an event object, got number"),
        (4, "event[4].data.resourceUri: missing (and the event has no subject to fall back on)"),
        (6, "event[6].eventTime: not an ISO 8601 date-time: 'yesterday'"),
        (7, "event[7].eventTime: missing"),
        (8, "event[8].data: expected an object, got array"),
        (9, "event[9].data.resourceUri: expected a string, got number"),
        (
            10,
            "event[10]: neither an Event Grid event (no 'eventType') nor a CloudEvent (no "
            "'specversion')",
        ),
        (11, "event[11].id: missing"),
        (12, "event[12].type: missing"),
        (13, "event[13]: expected an event object, got null"),
    ]
    assert delivery.total == len(events)
    assert json.loads(delivery.poison[0].raw) == no_data
    assert delivery.poison[0].event_id == "no-data"
    assert delivery.poison[2].raw == "42"


def test_subject_is_the_fallback_resource_id() -> None:
    event = _eg(uri=None)
    event["subject"] = NSG
    (change,) = parse_delivery([event]).changes
    assert change.resource_id == NSG
    event["subject"] = "/blobServices/default/containers/c1"
    (poison,) = parse_delivery([event]).poison
    assert poison.error.startswith("event[0].subject: not an ARM resource id")


def test_subscription_falls_back_to_id_then_topic() -> None:
    event = _eg(uri=NSG)
    del event["data"]["subscriptionId"]
    assert parse_delivery([event]).changes[0].subscription_id == "sub1"
    tenant = _eg(uri="/providers/Microsoft.Management/managementGroups/mg1")
    del tenant["data"]["subscriptionId"]
    tenant["topic"] = "/subscriptions/sub9"
    assert parse_delivery([tenant]).changes[0].subscription_id == "sub9"
    del tenant["topic"]
    (poison,) = parse_delivery([tenant]).poison
    assert poison.error == (
        "event[0].data.subscriptionId: missing, and neither the resource id nor the topic names one"
    )


def test_poison_raw_is_bounded() -> None:
    event = _eg(uri=None)
    event["subject"] = 5
    event["topic"] = "x" * (MAX_RAW_CHARS * 2)
    (poison,) = parse_delivery([event]).poison
    assert len(poison.raw) == MAX_RAW_CHARS


def test_more_events_than_the_limit_are_refused_whole() -> None:
    # Regression: half a batch processed and half parked in one poison record (answered 200).
    events = [_eg(event_id=str(i)) for i in range(12)]
    delivery = parse_delivery(events, max_events=10)
    assert delivery.over_limit
    assert delivery.changes == [] and delivery.poison == []
    assert delivery.total == 12


def test_wrong_python_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_delivery({1, 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_delivery(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 42, 1.5, True])
def test_a_parsed_json_value_that_is_no_event_is_poison_as_its_text_is(value: object) -> None:
    """The parsed-JSON entry reads any JSON value as the same text would be read."""
    parsed = parse_delivery(value)  # type: ignore[arg-type]
    as_text = parse_delivery(json.dumps(value).encode())
    assert [p.error for p in parsed.poison] == [p.error for p in as_text.poison]
    assert parsed.total == 1 and not parsed.changes


# --------------------------------------------------------------------------------------------
# Times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-08-16T03:54:38.2696833Z", datetime(2017, 8, 16, 3, 54, 38, 269683, tzinfo=UTC)),
        ("2017-08-16T03:54:38.9999999Z", datetime(2017, 8, 16, 3, 54, 38, 999999, tzinfo=UTC)),
        ("2018-07-19T19:24:12.763881Z", datetime(2018, 7, 19, 19, 24, 12, 763881, tzinfo=UTC)),
        ("2018-07-19T19:24:12Z", datetime(2018, 7, 19, 19, 24, 12, tzinfo=UTC)),
        (
            "2018-07-19T21:24:12.1234567+02:00",
            datetime(2018, 7, 19, 19, 24, 12, 123456, tzinfo=UTC),
        ),
        ("2018-07-19T19:24:12", datetime(2018, 7, 19, 19, 24, 12, tzinfo=UTC)),
    ],
)
def test_event_times(text: str, expected: datetime) -> None:
    parsed = parse_event_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text", ["2018-07-19", "yesterday", "", "2018-13-01T00:00:00Z", 1531928652]
)
def test_bad_event_times(text: object) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 date-time"):
        parse_event_time(text)


def test_aware_datetimes_are_converted_to_utc() -> None:
    local = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_event_time(local) == datetime(2024, 1, 1, 17, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Azure Functions trigger objects


def _decoded(event: dict[str, Any]) -> Any:
    """What the Functions worker hands the function: the real converter over a JSON datum."""
    return EventGridEventInConverter.decode(
        meta.Datum(json.dumps(event), "json"), trigger_metadata={}
    )


def test_function_event_grid_event(reference_dir: Path) -> None:
    (event,) = _load(
        reference_dir,
        "eventgrid-schema__Microsoft.Resources.ResourceDeleteSuccess__azure-docs-subscription-topic-array.json",
    )
    decoded = _decoded(event)
    assert isinstance(decoded, func.EventGridEvent)
    delivery = change_from_function_event(decoded, supported_types=SUPPORTED)
    (change,) = delivery.changes
    assert change.kind is ChangeKind.DELETE
    assert change.resource_id == STORAGE_DELETE
    assert change.event_time == DELETE_TIME
    assert change.caller_appid == "{ID}"
    assert change.event_id == "19a69642-1aad-4a96-a5ab-8d05494513ce"


def test_function_cloud_event(reference_dir: Path) -> None:
    event = _load(
        reference_dir,
        "cloudevents-1.0__Microsoft.Resources.ResourceWriteSuccess__rest-api-specs.json",
    )
    decoded = _decoded(event)
    assert isinstance(decoded, func.CloudEvent)
    (change,) = change_from_function_event(decoded).changes
    assert (change.kind, change.resource_id, change.event_time) == (
        ChangeKind.WRITE,
        STORAGE_WRITE,
        WRITE_TIME,
    )


def test_function_event_built_directly_and_naive_time() -> None:
    event = func.EventGridEvent(
        id="f1",
        data=_eg(WRITE, f"{SITE}/config/web")["data"],
        topic=RG,
        subject=f"{SITE}/config/web",
        event_type=WRITE,
        event_time=datetime(2024, 5, 1, 10, 0, 0),  # the worker's parse of a time without offset
        data_version="2",
    )
    (change,) = change_from_function_event(event).changes
    assert change.resource_id == SITE
    assert change.source_id == f"{SITE}/config/web"
    assert change.event_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_function_event_problems_are_poison() -> None:
    event = func.EventGridEvent(
        id="f2",
        data=_eg()["data"],
        topic=RG,
        subject=SA,
        event_type=WRITE,
        event_time=None,
        data_version="2",
    )
    (poison,) = change_from_function_event(event).poison
    assert poison.error == "event[0].eventTime: missing"
    assert poison.event_id == "f2"

    (poison,) = change_from_function_event(object()).poison
    assert poison.error.startswith("event[0]: not an Event Grid event object: object has neither")


# --------------------------------------------------------------------------------------------
# Bounds


def test_five_thousand_event_batch_parses_quickly(reference_dir: Path) -> None:
    template = _load(
        reference_dir,
        "eventgrid-schema__Microsoft.Resources.ResourceWriteSuccess__rest-api-specs.json",
    )
    events = []
    for i in range(5_000):
        event = copy.deepcopy(template)
        event["id"] = f"evt-{i}"
        event["data"]["resourceUri"] = f"{NSG}{i % 500}/securityRules/rule{i}"
        events.append(event)
    body = json.dumps(events).encode()
    started = time.perf_counter()
    delivery = parse_delivery(body, supported_types=SUPPORTED)
    elapsed = time.perf_counter() - started
    assert len(delivery.changes) == 5_000
    assert len(delivery.latest_per_resource()) == 500
    # A guard against quadratic parsing, not a speed target (those live in bench/): generous
    # enough for a loaded 2-core machine.
    assert elapsed < 20.0, f"5,000 events took {elapsed:.2f} s"


def test_the_public_api_is_importable_from_the_package() -> None:
    import shared.events

    for name in shared.events.__all__:
        assert getattr(shared.events, name) is not None, name
    assert shared.events.MAX_BODY_BYTES == 4 * 1024 * 1024


def test_ignore_reasons_are_one_vocabulary_and_compare_as_their_strings() -> None:
    import shared.events

    delivery = parse_delivery([_eg("Microsoft.Resources.ResourceWriteFailure")])
    assert delivery.ignored == {"failure": 1}
    (reason,) = delivery.ignored
    assert reason is shared.events.IgnoreReason.FAILURE
    assert json.dumps(dict(delivery.ignored)) == '{"failure": 1}'
