"""infra/ read offline: every Bicep file parses, and the templates say what the code needs -
no more, no less. The templates are evaluated with the same reader as `phiguard evaluate`
(shared/iac), so these tests see module outputs, loops and conditions resolved."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from remediations import permissions
from shared import iac
from shared.config import SETTINGS_DOC
from shared.engine import Engine
from shared.events.normalize import _KINDS
from shared.events.resources import LOOKUP_TYPES, SCOPE_TYPES
from shared.iac.bicep import BicepTemplate, parse_bicep
from shared.iac.functions import Scope
from shared.iac.model import Declared
from shared.kernel.findings import Status
from shared.kernel.related import RELATED

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
HOME = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"
THIRD = "33333333-3333-3333-3333-333333333333"
BASE_PARAMS: dict[str, Any] = {
    "environmentName": "ci",
    "location": "eastus2",
    "apiAuthClientId": "44444444-4444-4444-4444-444444444444",
}


def _declared(template: str = "main.bicep", **params: Any) -> list[Declared]:
    given = {**BASE_PARAMS, **params} if template == "main.bicep" else params
    return BicepTemplate(INFRA / template, Scope(HOME, None, "eastus2"), given).declared()


def _of_type(declared: list[Declared], rtype: str) -> list[Declared]:
    return [d for d in declared if d.type.lower() == rtype.lower()]


def _subscription_of(resource_id: str) -> str:
    return resource_id.split("/")[2]


@pytest.mark.parametrize(
    "path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: str(p.relative_to(INFRA))
)
def test_every_bicep_file_parses(path: Path) -> None:
    tree = parse_bicep(path.read_text(), str(path))
    assert tree.get("resources") or tree.get("modules"), f"{path} declares nothing"


def test_each_system_topic_is_deployed_in_its_source_subscription() -> None:
    declared = _declared(watchedSubscriptions=f"{OTHER},{THIRD}")
    topics = _of_type(declared, "Microsoft.EventGrid/systemTopics")
    assert len(topics) == 2
    for topic in topics:
        source = topic.body["properties"]["source"]
        assert source in {f"/subscriptions/{OTHER}", f"/subscriptions/{THIRD}"}
        assert _subscription_of(topic.id) == _subscription_of(source), topic.id
        assert topic.body["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
        assert topic.body["identity"] == {"type": "SystemAssigned"}


def test_an_existing_system_topic_is_reused_not_created() -> None:
    declared = _declared(
        watchedSubscriptions=f"{OTHER},{THIRD}",
        existingSystemTopics={OTHER: {"resourceGroup": "rg-portal", "name": "portal-topic"}},
    )
    topics = _of_type(declared, "Microsoft.EventGrid/systemTopics")
    assert [_subscription_of(t.id) for t in topics] == [THIRD]
    groups = [g.name for g in _of_type(declared, "Microsoft.Resources/resourceGroups")]
    assert "rg-ci-events" in groups  # THIRD's topic group; OTHER's topic keeps its own group


def test_event_subscriptions_are_created_only_after_the_code_is_deployed() -> None:
    provisioned = _declared()
    assert not _of_type(provisioned, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    topics = json.dumps([{"subscriptionId": HOME, "resourceGroup": "rg-ci-events", "name": "t"}])
    runtime = (
        f"/subscriptions/{HOME}/resourceGroups/rg-ci/providers/Microsoft.Storage/storageAccounts/st"
    )
    second = _declared("events.bicep", topicsJson=topics, runtimeStorageId=runtime)
    [subscription] = _of_type(second, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    assert subscription.id.startswith(
        f"/subscriptions/{HOME}/resourceGroups/rg-ci-events/providers/Microsoft.EventGrid/systemTopics/t/"
    )
    azure_yaml = (REPO / "azure.yaml").read_text()
    hooks = {h: (INFRA / "hooks" / f"{h}.sh").read_text() for h in ("preprovision", "postdeploy")}
    assert "postdeploy:" in azure_yaml and "infra/hooks/postdeploy.sh" in azure_yaml
    assert "infra/events.bicep" in hooks["postdeploy"]
    assert "events.bicep" not in hooks["preprovision"]
    # No template uses events.bicep as a module: only the hook deploys it.
    uses = re.compile(r"^module\s+\w+\s+'[^']*events\.bicep'", re.MULTILINE)
    assert not [p for p in INFRA.rglob("*.bicep") if uses.search(p.read_text())]


def test_the_event_filter_lists_exactly_what_the_code_turns_into_changes() -> None:
    topics = json.dumps([{"subscriptionId": HOME, "resourceGroup": "rg", "name": "t"}])
    [subscription] = _of_type(
        _declared("events.bicep", topicsJson=topics, runtimeStorageId="/subscriptions/x"),
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    )
    event_filter = subscription.body["properties"]["filter"]
    change_types = {t for t in _KINDS if t.startswith("microsoft.resources.")}
    assert {t.lower() for t in event_filter["includedEventTypes"]} == change_types
    covered = (
        set(Engine().supported_types())
        | {d.doc_type for d in RELATED.values()}
        | set(SCOPE_TYPES)
        | set(LOOKUP_TYPES)
    )
    [operation_filter] = event_filter["advancedFilters"]
    assert operation_filter["key"] == "data.operationName"
    assert operation_filter["operatorType"] == "StringBeginsWith"
    assert {v.lower() for v in operation_filter["values"]} == {
        t.split("/")[0] + "/" for t in covered
    }
    assert len(operation_filter["values"]) <= 25  # Event Grid's limit of filter values
    props = subscription.body["properties"]
    assert props["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    assert props["deadLetterWithResourceIdentity"]["identity"] == {"type": "SystemAssigned"}
    assert props["deliveryWithResourceIdentity"]["destination"]["endpointType"] == "StorageQueue"


def _remediation_roles(declared: list[Declared]) -> list[Declared]:
    return [
        d
        for d in _of_type(declared, "Microsoft.Authorization/roleDefinitions")
        if str(d.body["properties"]["roleName"]).startswith("phiguard remediation")
    ]


def test_the_remediation_role_is_exactly_the_registry_permissions_and_only_in_enforce_mode() -> (
    None
):
    assert _remediation_roles(_declared(watchedSubscriptions=f"{OTHER},{THIRD}")) == []
    enforce = _declared(watchedSubscriptions=f"{OTHER},{THIRD}", remediationMode="enforce")
    roles = _remediation_roles(enforce)
    assert sorted(_subscription_of(r.id) for r in roles) == [OTHER, THIRD]
    for role in roles:
        [permission] = role.body["properties"]["permissions"]
        assert sorted(permission["actions"]) == sorted(permissions())
        assert permission["dataActions"] == []
        assert role.body["properties"]["assignableScopes"] == [
            f"/subscriptions/{_subscription_of(role.id)}"
        ]
    role_ids = {r.id for r in roles}
    assignments = [
        a
        for a in _of_type(enforce, "Microsoft.Authorization/roleAssignments")
        if a.body["properties"]["roleDefinitionId"] in role_ids
    ]
    assert len(assignments) == 2


def _app_settings(declared: list[Declared]) -> dict[str, Any]:
    [settings] = [
        d
        for d in _of_type(declared, "Microsoft.Web/sites/config")
        if str(d.name).endswith("/appsettings")
    ]
    return dict(settings.body["properties"])


def _settings_the_code_reads() -> set[str]:
    """Every PHIGUARD_* setting the code documents: the settings table, the notification
    settings and the issue-tracker settings (while those are still kept apart)."""
    import shared.issues.routing as routing
    from shared.notify.settings import NOTIFY_SETTINGS_DOC

    names = {f"PHIGUARD_{n}" for n, _, _ in (*SETTINGS_DOC, *NOTIFY_SETTINGS_DOC)}
    names |= {v for k, v in vars(routing).items() if k.endswith("_SETTING") and isinstance(v, str)}
    return names


# Read by the code but not set by the deployment, each for a reason.
NOT_DEPLOYED = {
    "PHIGUARD_STORAGE_CONNECTION_STRING": "carries an account key; the identity is used",
    "PHIGUARD_ACS_CONNECTION_STRING": "carries an access key; ACS_ENDPOINT + identity instead",
    "PHIGUARD_CA_CERT": "the simulated tenant's CA",
}
# Read by the Functions host and Application Insights, not by phiguard's code.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}


def test_every_setting_the_code_reads_is_set_and_nothing_else() -> None:
    settings = _app_settings(_declared())
    phiguard = {k for k in settings if k.startswith("PHIGUARD_")}
    read = _settings_the_code_reads()
    assert set(NOT_DEPLOYED) <= read  # a reason kept for a setting the code no longer reads
    expected = read - set(NOT_DEPLOYED)
    assert phiguard == expected, (
        f"set but not read: {sorted(phiguard - expected)}; "
        f"read but not set: {sorted(expected - phiguard)}"
    )
    assert set(settings) - phiguard == HOST_SETTINGS


def test_secrets_are_key_vault_references_never_values() -> None:
    on = _declared(teamsWebhookSecretName="teams-webhook", githubTokenSecretName="gh-token")
    settings = _app_settings(on)
    assert settings["PHIGUARD_TEAMS_WEBHOOK_URL"].startswith("@Microsoft.KeyVault(VaultName=")
    assert settings["PHIGUARD_TEAMS_WEBHOOK_URL"].endswith(";SecretName=teams-webhook)")
    assert settings["PHIGUARD_GITHUB_TOKEN"].endswith(";SecretName=gh-token)")
    off = _app_settings(_declared())
    for name in ("TEAMS_WEBHOOK_URL", "SMTP_PASSWORD", "GITHUB_TOKEN", "ADO_PAT"):
        assert off[f"PHIGUARD_{name}"] == ""


def test_the_evidence_is_worm_for_six_years_and_no_data_role_can_delete_it() -> None:
    declared = _declared()
    evidence_ids = {
        d.id
        for d in _of_type(declared, "Microsoft.Storage/storageAccounts")
        if "/storageAccounts/stphgev" in d.id
    }
    policies = _of_type(
        declared, "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
    )
    # The evidence export and the weekly access reviews: each kept write-once for six years.
    assert {p.id.split("/containers/")[1].split("/")[0] for p in policies} == {
        "evidence",
        "access-reviews",
    }
    for policy in policies:
        assert policy.body["properties"]["immutabilityPeriodSinceCreationInDays"] >= 2192
        assert any(policy.id.startswith(e) for e in evidence_ids)
    custom = {
        d.id: d.body["properties"]["permissions"][0]
        for d in _of_type(declared, "Microsoft.Authorization/roleDefinitions")
    }
    for permission in custom.values():
        assert not [a for a in permission["actions"] + permission["dataActions"] if "delete" in a]
    table_data_contributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
    on_evidence = [
        a
        for a in _of_type(declared, "Microsoft.Authorization/roleAssignments")
        if any(a.id.lower().startswith(e.lower()) for e in evidence_ids)
    ]
    assert on_evidence
    for assignment in on_evidence:
        role = str(assignment.body["properties"]["roleDefinitionId"])
        if role.endswith(table_data_contributor):
            assert "/tables/phiguardoutbox/" in assignment.id  # the one purged table
        else:
            assert role in custom, f"{assignment.id} grants {role}"


def _findings(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[Any]:
    for key in list(os.environ):
        if key.startswith(("PHIGUARD_", "AZURE_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AZURE_ENV_NAME", "ci")
    monkeypatch.setenv("AZURE_LOCATION", "eastus2")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    snapshots = iac.load(iac.split_inputs([INFRA]))
    return [f for e in iac.evaluate(Engine(), snapshots) for f in e.findings]


@pytest.mark.parametrize("mode", ["dry-run", "enforce"])
def test_phiguard_passes_its_own_phi_checks(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    findings = _findings(
        monkeypatch,
        PHIGUARD_REMEDIATION_MODE=mode,
        PHIGUARD_WATCHED_SUBSCRIPTIONS=f"{OTHER},{THIRD}",
    )
    judged = {f.status for f in findings}
    assert judged <= {Status.PASS, Status.NOT_APPLICABLE}, [
        (f.status, f.check_id, f.resource_id, f.reason)
        for f in findings
        if f.status not in (Status.PASS, Status.NOT_APPLICABLE)
    ]
    # In PHI scope by its tags: every resource that carries tags (role definitions cannot).
    assert all(f.phi for f in findings if not f.resource_type.startswith("microsoft.authorization"))
    checked = {f.check_id for f in findings if f.status == Status.PASS}
    # The PHI-only checks of every kind phiguard deploys ran and passed.
    assert {
        "storage_account_customer_managed_key_enabled",
        "storage_account_private_endpoint_approved",
        "storage_account_blob_diagnostic_logs_enabled",
        "appservice_site_public_network_access_disabled",
        "appservice_site_resource_logs_enabled",
        "keyvault_vault_purge_protection_enabled",
        "keyvault_vault_audit_logs_enabled",
        "monitoring_workspace_local_auth_disabled",
        "monitoring_workspace_total_retention_six_years",
        "network_nsg_flow_logs_retained",
        "network_vnet_subnets_nsg_associated",
    } <= checked
    if mode == "enforce":
        assert "governance_custom_role_no_broad_permissions" in checked


def test_host_json_records_every_invocation_and_outlasts_the_sweep() -> None:
    host = json.loads((REPO / "host.json").read_text())
    levels: Mapping[str, str] = host["logging"]["logLevel"]
    assert levels["Host.Results"] == "Information"  # the App Insights requests table
    excluded = set(
        host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")
    )
    assert {"Request", "Exception"} <= excluded
    hours, minutes, seconds = (int(p) for p in host["functionTimeout"].split(":"))
    timeout = hours * 3600 + minutes * 60 + seconds
    # A subscription's sweep is one invocation bounded by ARM's read limit: 317 s per 10,000
    # resources measured (README, Benchmarks). The timeout must hold a 200,000-resource
    # subscription with room to spare (and `phiguard scan` of ten of 20,000 in one process).
    assert timeout >= 200_000 * 317 / 10_000 * 2
    assert host["extensions"]["queues"]["messageEncoding"] == "none"  # Event Grid writes raw JSON


def test_the_queue_event_grid_fills_is_the_one_the_function_reads() -> None:
    source = (REPO / "function_app.py").read_text()
    triggers = re.findall(r'queue_trigger\([^)]*queue_name="([^"]+)"', source)
    outputs = re.findall(r'queue_output\([^)]*queue_name="([^"]+)"', source)
    assert sorted(triggers) == ["resource-events", "subscription-sweeps"]
    assert outputs == ["subscription-sweeps"]  # the timer fills it, its trigger reads it
    queue = "resource-events"
    declared = _declared()
    queues = {
        str(d.name).rsplit("/", 1)[-1]
        for d in _of_type(declared, "Microsoft.Storage/storageAccounts/queueServices/queues")
    }
    # the host moves failed messages to -poison
    assert queues == {q for t in triggers for q in (t, f"{t}-poison")}
    topics = json.dumps([{"subscriptionId": HOME, "resourceGroup": "rg", "name": "t"}])
    [subscription] = _of_type(
        _declared("events.bicep", topicsJson=topics, runtimeStorageId="/subscriptions/x"),
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    )
    destination = subscription.body["properties"]["deliveryWithResourceIdentity"]["destination"]
    assert destination["properties"]["queueName"] == queue


def test_the_host_storage_identity_has_the_roles_learn_gives_for_it() -> None:
    """Identity-based AzureWebJobsStorage: Learn ("Connecting to host storage with an identity")
    gives Storage Blob Data Owner as what the host needs on its account; Blob Data Contributor
    alone is not it. The queue trigger adds the queue reader, processor and sender roles."""
    declared = _declared()
    grants = [
        d
        for d in _of_type(declared, "Microsoft.Authorization/roleAssignments")
        if str(d.body["properties"]["roleDefinitionId"]).endswith(
            "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
        )
    ]
    assert grants, "no Storage Blob Data Owner on the runtime storage account"
    runtime_account = {g.id.split("/providers/Microsoft.Authorization/")[0].lower() for g in grants}
    on_runtime = [
        str(d.body["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1]
        for d in _of_type(declared, "Microsoft.Authorization/roleAssignments")
        if d.id.split("/providers/Microsoft.Authorization/")[0].lower() in runtime_account
    ]
    assert "ba92f5b4-2d11-453d-a403-e96b0029c9fe" not in on_runtime  # Owner replaces Contributor
    assert {
        "19e7f393-937e-4f77-808e-94535e297925",
        "8a0f0c08-91a1-4084-bc3d-661d67233fed",
        "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    } <= set(on_runtime)


def test_the_diagnostic_fix_may_name_its_destinations_only_in_enforce_mode() -> None:
    """Creating a diagnostic setting is a linked-access check (LinkedAuthorizationFailed
    without it): sharedKeys on the workspace, listKeys on the archive account, granted on those
    two resources alone and only when the fix may write."""
    wanted = {
        "Microsoft.OperationalInsights/workspaces/read",
        "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
        "Microsoft.Storage/storageAccounts/read",
        "Microsoft.Storage/storageAccounts/listKeys/action",
    }

    def destination_roles(declared: list[Declared]) -> list[Declared]:
        return [
            d
            for d in _of_type(declared, "Microsoft.Authorization/roleDefinitions")
            if "diagnostic destinations" in str(d.body["properties"].get("roleName", ""))
        ]

    assert destination_roles(_declared()) == []
    enforce = _declared(remediationMode="enforce")
    [role] = destination_roles(enforce)
    [permission] = role.body["properties"]["permissions"]
    assert set(permission["actions"]) == wanted and permission["dataActions"] == []
    scopes = sorted(
        a.id.split("/providers/Microsoft.Authorization/")[0].split("/")[-2].lower()
        for a in _of_type(enforce, "Microsoft.Authorization/roleAssignments")
        if a.body["properties"]["roleDefinitionId"] == role.id
    )
    assert scopes == ["storageaccounts", "workspaces"]
