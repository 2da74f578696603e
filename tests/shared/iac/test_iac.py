"""Pre-deploy evaluation: Bicep and ARM templates judged by the runtime engine and catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared import iac
from shared.cli import main
from shared.engine import Engine
from shared.kernel.findings import Status

STORAGE_BODY = """
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  tags: { 'data-classification': 'phi' }
  properties: {
    minimumTlsVersion: TLS
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
"""


def _statuses(paths: list[Path]) -> dict[tuple[str, str], Status]:
    snapshots = iac.load(iac.split_inputs(paths))
    return {
        (f.resource_id.rsplit("/", 1)[-1], f.check_id): f.status
        for e in iac.evaluate(Engine(), snapshots)
        for f in e.findings
    }


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_parameter_defaults_and_the_parameters_file_with_azd_variables_are_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHIGUARD_TEST_TLS", "TLS1_2")
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "param tls string = 'TLS1_0'\nparam name string = 'stdefault'\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: name\n" + STORAGE_BODY.replace("TLS", "tls") + "}\n",
    )
    _write(
        tmp_path,
        "main.parameters.json",
        json.dumps({"parameters": {"tls": {"value": "${PHIGUARD_TEST_TLS}"}}}),
    )
    statuses = _statuses([main_bicep])
    assert statuses[("stdefault", "storage_account_min_tls_1_2")] == Status.PASS
    monkeypatch.setenv("PHIGUARD_TEST_TLS", "TLS1_0")
    assert _statuses([main_bicep])[("stdefault", "storage_account_min_tls_1_2")] == Status.FAIL


def test_a_value_left_to_deployment_is_not_assessed_never_pass(tmp_path: Path) -> None:
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "param tls string\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'stx'\n" + STORAGE_BODY.replace("TLS", "tls") + "}\n",
    )
    statuses = _statuses([main_bicep])
    assert statuses[("stx", "storage_account_min_tls_1_2")] == Status.NOT_ASSESSED
    # Checks that do not read the unknown value still judge.
    assert statuses[("stx", "storage_account_secure_transfer_required")] == Status.PASS


def test_a_runtime_property_of_another_resource_is_not_assessed(tmp_path: Path) -> None:
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "resource other 'Microsoft.Storage/storageAccounts@2023-05-01' existing = { name: 'o' }\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'sty'\n"
        + STORAGE_BODY.replace("TLS", "other.properties.minimumTlsVersion")
        + "}\n",
    )
    statuses = _statuses([main_bicep])
    assert statuses[("sty", "storage_account_min_tls_1_2")] == Status.NOT_ASSESSED
    assert ("o", "storage_account_min_tls_1_2") not in statuses  # existing: not declared here


def test_the_same_resource_as_bicep_arm_template_and_live_body_gets_the_same_verdicts(
    tmp_path: Path,
) -> None:
    bicep = _write(
        tmp_path,
        "one.bicep",
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'stsame'\n"
        + STORAGE_BODY.replace("TLS", "'TLS1_1'")
        + "}\n",
    )
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"tls": {"type": "string", "defaultValue": "TLS1_1"}},
        "variables": {"prefix": "st"},
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": "[concat(variables('prefix'), 'same')]",
                "kind": "StorageV2",
                "sku": {"name": "Standard_ZRS"},
                "tags": {"data-classification": "phi"},
                "properties": {
                    "minimumTlsVersion": "[parameters('tls')]",
                    "supportsHttpsTrafficOnly": True,
                    "allowBlobPublicAccess": False,
                },
            }
        ],
    }
    arm = _write(tmp_path, "two.json", json.dumps(template))
    from_bicep = _statuses([bicep])
    from_arm = _statuses([arm])
    assert from_bicep == from_arm
    assert from_bicep[("stsame", "storage_account_min_tls_1_2")] == Status.FAIL
    live = {
        "id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/stsame",
        "type": "Microsoft.Storage/storageAccounts",
        "name": "stsame",
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS", "tier": "Standard"},
        "tags": {"data-classification": "phi"},
        "properties": {
            "minimumTlsVersion": "TLS1_1",
            "supportsHttpsTrafficOnly": True,
            "allowBlobPublicAccess": False,
        },
    }
    blob_service = {  # what ARM returns for an account's untouched blob service
        "id": f"{live['id']}/blobServices/default",
        "type": "Microsoft.Storage/storageAccounts/blobServices",
        "name": "default",
        "properties": {},
    }
    from shared.loader import load_documents

    documents = [(live, "live"), (blob_service, "live")]
    live_statuses = {
        f.check_id: f.status
        for e in Engine().evaluate_all(load_documents(documents, complete=True))
        for f in e.findings
    }
    assert live_statuses == {c: s for (_, c), s in from_bicep.items()}


def test_nested_inline_deployments_are_flattened_and_linked_ones_are_not_read(
    tmp_path: Path,
) -> None:
    inner = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"vaultName": {"type": "string"}},
        "resources": [
            {
                "type": "Microsoft.KeyVault/vaults",
                "apiVersion": "2023-07-01",
                "name": "[parameters('vaultName')]",
                "properties": {"enablePurgeProtection": True, "enableRbacAuthorization": True},
            }
        ],
    }
    outer = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "nested",
                "resourceGroup": "rg-other",
                "properties": {
                    "mode": "Incremental",
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {"vaultName": {"value": "kv-nested"}},
                    "template": inner,
                },
            },
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "linked",
                "properties": {"mode": "Incremental", "templateLink": {"uri": "https://x"}},
            },
        ],
    }
    path = _write(tmp_path, "outer.json", json.dumps(outer))
    snapshots = iac.load(iac.split_inputs([path]))
    assert [s.id for s in snapshots] == [
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-other"
        "/providers/Microsoft.KeyVault/vaults/kv-nested"
    ]
    statuses = _statuses([path])
    assert statuses[("kv-nested", "keyvault_vault_purge_protection_enabled")] == Status.PASS


def test_modules_scopes_loops_conditions_and_related_documents(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "store.bicep",
        "param n string\nparam workspaceId string\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: n\n"
        + STORAGE_BODY.replace("TLS", "'TLS1_2'")
        + "  resource blobs 'blobServices' = {\n    name: 'default'\n"
        "    properties: { isVersioningEnabled: true, deleteRetentionPolicy: { enabled: true, days: 7 } }\n"
        "  }\n}\n"
        "resource diag 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {\n"
        "  name: 'audit'\n  scope: st::blobs\n"
        "  properties: { workspaceId: workspaceId, logs: [ { categoryGroup: 'allLogs', enabled: true } ] }\n"
        "}\noutput id string = st.id\n",
    )
    _write(
        tmp_path,
        "main.bicep",
        "targetScope = 'subscription'\nparam names array = [ 'sta', 'stb' ]\nparam extra bool = false\n"
        "resource ws 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {\n"
        "  name: 'log'\n  scope: resourceGroup('rg-log')\n}\n"
        "module stores 'store.bicep' = [for (n, i) in names: {\n"
        "  name: 'store-${i}'\n  scope: resourceGroup('11111111-1111-1111-1111-111111111111', 'rg-${n}')\n"
        "  params: { n: n, workspaceId: ws.id }\n}]\n"
        "module skipped 'store.bicep' = if (extra) {\n  name: 'skipped'\n"
        "  params: { n: 'stskipped', workspaceId: ws.id }\n}\n"
        "output first string = stores[0].outputs.id\n",
    )
    given = iac.split_inputs([tmp_path])
    assert [p.name for p, _ in given.bicep] == ["main.bicep"]  # store.bicep is a module
    snapshots = {s.id.rsplit("/", 1)[-1]: s for s in iac.load(given)}
    assert set(snapshots) == {"sta", "stb"}
    assert snapshots["sta"].id == (
        "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-sta"
        "/providers/Microsoft.Storage/storageAccounts/sta"
    )
    statuses = _statuses([tmp_path])
    assert statuses[("sta", "storage_account_blob_versioning_enabled")] == Status.PASS
    assert statuses[("sta", "storage_account_blob_diagnostic_logs_enabled")] == Status.PASS


def test_private_endpoints_declared_for_a_resource_are_its_approved_connections(
    tmp_path: Path,
) -> None:
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'stpe'\n"
        + STORAGE_BODY.replace("TLS", "'TLS1_2'")
        + "}\n"
        "resource pe 'Microsoft.Network/privateEndpoints@2024-05-01' = {\n  name: 'pe-blob'\n"
        "  properties: { privateLinkServiceConnections: [ { name: 'blob', properties: {\n"
        "    privateLinkServiceId: st.id\n    groupIds: [ 'blob' ]\n  } } ] }\n}\n",
    )
    assert _statuses([main_bicep])[("stpe", "storage_account_private_endpoint_approved")] == (
        Status.PASS
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(env == 'prod') ? 'TLS1_2' : 'TLS1_0'", Status.PASS),
        ("env == 'prod' ? 'TLS1_2' : 'TLS1_0'", Status.NOT_ASSESSED),  # pycep groups a == (b ? ..)
        ("(env == 'dev') && true ? 'TLS1_2' : 'TLS1_0'", Status.NOT_ASSESSED),
        ("toUpper('tls1_2')", Status.PASS),
        ("'TLS1_${env == 'prod' ? 2 : 0}'", Status.NOT_ASSESSED),
        ("'TLS1_${length(env) - 3}'", Status.FAIL),  # TLS1_1
    ],
)
def test_expressions_are_evaluated_or_left_unresolved_never_guessed(
    tmp_path: Path, expression: str, expected: Status
) -> None:
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "param env string = 'prod'\nvar tlsVersion = " + expression + "\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'stexpr'\n"
        + STORAGE_BODY.replace("TLS", "tlsVersion")
        + "}\n",
    )
    assert _statuses([main_bicep])[("stexpr", "storage_account_min_tls_1_2")] == expected


def test_cli_evaluates_templates_and_names_the_file_and_line_of_bad_bicep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(
        tmp_path,
        "good.bicep",
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'stcli'\n"
        + STORAGE_BODY.replace("TLS", "'TLS1_0'")
        + "}\n",
    )
    code = main(["evaluate", str(good), "--format", "json"])
    findings: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    # 3, not 1: the file service (share soft delete) is left to Azure's defaults, which the
    # template does not declare, so that check is NOT_ASSESSED, never PASS.
    assert code == 3
    unjudged = {f["check_id"] for f in findings if f["status"] == "NOT_ASSESSED"}
    assert unjudged == {"storage_account_file_share_soft_delete_enabled"}
    assert {f["check_id"] for f in findings if f["status"] == "FAIL"} >= {
        "storage_account_min_tls_1_2"
    }
    assert all(f["phi"] for f in findings)  # PHI scope from the declared tags
    bad = _write(tmp_path, "bad.bicep", "resource st 'A.B/c@2020-01-01' = {\n  name: 'x'\n")
    code = main(["evaluate", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}: line 2" in err
    assert "Traceback" not in err


def test_two_deployments_of_one_module_with_names_left_to_deployment_stay_two(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        "store.bicep",
        "param prefix string\nparam tls string\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: '${prefix}x'\n"
        + STORAGE_BODY.replace("TLS", "tls")
        + "}\n",
    )
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "param prefix string\n"
        "module one 'store.bicep' = {\n  name: 'one'\n  params: { prefix: prefix, tls: 'TLS1_2' }\n}\n"
        "module two 'store.bicep' = {\n  name: 'two'\n  params: { prefix: prefix, tls: 'TLS1_0' }\n}\n",
    )
    snapshots = iac.load(iac.split_inputs([main_bicep]))
    storage = [s for s in snapshots if s.type == "microsoft.storage/storageaccounts"]
    assert len({s.id for s in storage}) == 2
    verdicts = sorted(
        f.status.value
        for e in iac.evaluate(Engine(), storage)
        for f in e.findings
        if f.check_id == "storage_account_min_tls_1_2"
    )
    assert verdicts == ["FAIL", "PASS"]


def test_arm_copy_loops_conditions_and_child_resources(tmp_path: Path) -> None:
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"count": {"type": "int", "defaultValue": 2}, "tls": {"type": "string"}},
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": "[format('st{0}', copyIndex(1))]",
                "copy": {"name": "accounts", "count": "[parameters('count')]"},
                "kind": "StorageV2",
                "properties": {"minimumTlsVersion": "[parameters('tls')]"},
                "resources": [
                    {
                        "type": "blobServices",
                        "apiVersion": "2023-05-01",
                        "name": "default",
                        "properties": {"isVersioningEnabled": True},
                    }
                ],
            },
            {
                "condition": "[equals(parameters('count'), 3)]",
                "type": "Microsoft.KeyVault/vaults",
                "apiVersion": "2023-07-01",
                "name": "kv-never",
                "properties": {},
            },
        ],
    }
    path = _write(tmp_path, "azuredeploy.json", json.dumps(template))
    snapshots = iac.load(iac.split_inputs([path]))
    names = sorted(s.id.rsplit("/", 1)[-1] for s in snapshots)
    assert names == ["st1", "st2"]
    assert all(s.has("blob_service") for s in snapshots)
    statuses = _statuses([path])
    assert statuses[("st1", "storage_account_min_tls_1_2")] == Status.NOT_ASSESSED  # no value
    bad = _write(
        tmp_path, "broken.json", json.dumps({**template, "variables": {"x": "[concat('a',]"}})
    )
    bad_template = json.loads(bad.read_text())
    bad_template["resources"][0]["properties"]["minimumTlsVersion"] = "[variables('x')]"
    bad.write_text(json.dumps(bad_template))
    with pytest.raises(iac.IacError, match=r"broken\.json: \$\.variables\.x"):
        iac.load(iac.split_inputs([bad]))


def test_phi_only_checks_are_not_assessed_when_the_scope_hangs_on_unresolved_tags(
    tmp_path: Path,
) -> None:
    main_bicep = _write(
        tmp_path,
        "main.bicep",
        "param classification string\n"
        "resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'sttags'\n"
        + STORAGE_BODY.replace("TLS", "'TLS1_2'").replace(
            "tags: { 'data-classification': 'phi' }",
            "tags: { 'data-classification': classification }",
        )
        + "}\n",
    )
    statuses = _statuses([main_bicep])
    # PHI-only: cannot tell whether it applies; the others judge as usual.
    assert statuses[("sttags", "storage_account_customer_managed_key_enabled")] == (
        Status.NOT_ASSESSED
    )
    assert statuses[("sttags", "storage_account_min_tls_1_2")] == Status.PASS


def test_an_existing_reference_counts_for_lookups_and_is_not_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_LOCATION", "eastus2")  # the deployment's region (azd sets it)
    vnet = (
        "resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {\n"
        "  name: 'vnet-phi'\n  location: 'eastus2'\n  tags: { 'data-classification': 'phi' }\n"
        "  properties: { addressSpace: { addressPrefixes: [ '10.0.0.0/16' ] } }\n}\n"
    )
    watcher = (
        "resource watcher 'Microsoft.Network/networkWatchers@2024-05-01' existing = {\n"
        "  name: 'NetworkWatcher_eastus2'\n}\n"
    )
    check = "network_vnet_region_network_watcher"
    without = _statuses([_write(tmp_path, "a.bicep", vnet)])
    assert without[("vnet-phi", check)] == Status.FAIL
    referenced = _write(tmp_path, "b.bicep", vnet + watcher)
    statuses = _statuses([referenced])
    assert statuses[("vnet-phi", check)] == Status.PASS
    assert not [k for k in statuses if k[0] == "NetworkWatcher_eastus2"]  # never judged
