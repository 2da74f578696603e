"""Edge cases of the App Service checks: defaults, kinds, case, malformed documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks.appservice import tls_version
from shared.kernel.findings import Status
from shared.kernel.snapshot import MalformedResource, Snapshot
from tests.checks.helpers import ENGINE
from tests.checks.helpers import finding as _run
from tests.checks.helpers import status as _status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def _site(**props: Any) -> dict[str, Any]:
    doc = json.loads((FIXTURES / "appservice_site_https_only" / "fail.json").read_text())
    site: dict[str, Any] = doc["resource"]
    site["properties"].update(props)
    return site


def _config(**props: Any) -> dict[str, Any]:
    doc = json.loads((FIXTURES / "appservice_site_min_tls_1_2" / "pass.json").read_text())
    config: dict[str, Any] = doc["related"]["web_config"]
    config["properties"].update(props)
    return config


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2", (1, 2)),
        ("1.3", (1, 3)),
        ("1.0", (1, 0)),
        ("TLS1_2", (1, 2)),
        (" 1.1 ", (1, 1)),
        (1.2, (1, 2)),
    ],
)
def test_tls_version_parses_app_service_spellings(raw: Any, expected: tuple[int, int]) -> None:
    assert tls_version(raw, "x") == expected


@pytest.mark.parametrize("raw", ["", "one.two", "1", True, None, ["1.2"], "1.2.3"])
def test_tls_version_rejects_garbage(raw: Any) -> None:
    with pytest.raises(MalformedResource):
        tls_version(raw, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.0", Status.FAIL), ("1.1", Status.FAIL), ("1.2", Status.PASS), ("1.3", Status.PASS)],
)
def test_min_tls_boundary(value: str, expected: Status) -> None:
    related = {"web_config": _config(minTlsVersion=value)}
    assert _status("appservice_site_min_tls_1_2", _site(), related) == expected


def test_min_tls_null_means_documented_default_and_evidence_says_so() -> None:
    finding = _run(
        "appservice_site_min_tls_1_2", _site(), {"web_config": _config(minTlsVersion=None)}
    )
    assert finding is not None and finding.status == Status.PASS
    entry = finding.evidence["related.web_config.properties.minTlsVersion"]
    assert entry["assumed"] == "1.2" and entry["null"] is True


def test_scm_tls_is_judged_separately_from_site_tls() -> None:
    related = {"web_config": _config(minTlsVersion="1.2", scmMinTlsVersion="1.0")}
    assert _status("appservice_site_min_tls_1_2", _site(), related) == Status.PASS
    assert _status("appservice_scm_min_tls_1_2", _site(), related) == Status.FAIL


def test_web_config_checks_are_not_assessed_without_the_document() -> None:
    evaluation = ENGINE.evaluate(Snapshot(_site()))
    missing = {n.check_id for n in evaluation.not_assessed}
    assert {"appservice_site_min_tls_1_2", "appservice_site_ftps_only"} <= missing
    statuses = {f.check_id: f.status for f in evaluation.findings}
    assert statuses["appservice_site_ftps_only"] == Status.NOT_ASSESSED


@pytest.mark.parametrize(
    "web_config",
    [["not", "an", "object"], {"properties": ["minTlsVersion", "1.2"]}],
)
def test_malformed_web_config_is_an_error(web_config: Any) -> None:
    related = {"web_config": web_config}
    assert _status("appservice_site_min_tls_1_2", _site(), related) == Status.ERROR
    assert _status("appservice_site_ftps_only", _site(), related) == Status.ERROR


def test_https_only_null_and_absent_mean_false() -> None:
    assert _status("appservice_site_https_only", _site(httpsOnly=None)) == Status.FAIL
    site = _site()
    del site["properties"]["httpsOnly"]
    finding = _run("appservice_site_https_only", site)
    assert finding is not None and finding.status == Status.FAIL
    assert finding.evidence["properties.httpsOnly"] == {"absent": True, "assumed": False}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("functionapp,linux,container,azurecontainerapps", Status.NOT_APPLICABLE),
        ("functionapp,workflowapp", Status.FAIL),  # Logic Apps Standard: its own front end
        ("functionapp,linux", Status.FAIL),
        ("app", Status.FAIL),
    ],
)
def test_https_only_does_not_apply_to_function_apps_in_container_apps(
    kind: str, expected: Status
) -> None:
    """Policy 6d555dd1 leaves out kinds containing azurecontainerapps: the Container Apps
    environment's ingress, not the site's httpsOnly, decides whether plain HTTP is served."""
    site = _site(httpsOnly=False)
    site["kind"] = kind
    assert _status("appservice_site_https_only", site) == expected


@pytest.mark.parametrize("value", ["true", 1, "yes"])
def test_https_only_non_boolean_is_an_error_not_a_pass(value: Any) -> None:
    assert _status("appservice_site_https_only", _site(httpsOnly=value)) == Status.ERROR


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ftpsonly", Status.PASS),
        ("DISABLED", Status.PASS),
        ("allallowed", Status.FAIL),
        ("Sometimes", Status.ERROR),
        (3, Status.ERROR),
    ],
)
def test_ftps_state_is_case_insensitive_and_unknown_values_error(
    state: Any, expected: Status
) -> None:
    related = {"web_config": _config(ftpsState=state)}
    assert _status("appservice_site_ftps_only", _site(), related) == expected


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ({"type": "userassigned"}, Status.PASS),
        ({"type": "SystemAssigned,UserAssigned"}, Status.PASS),
        ({"type": "None"}, Status.FAIL),
        ({"type": "Magic"}, Status.ERROR),
        ({"type": 1}, Status.ERROR),
        (["SystemAssigned"], Status.ERROR),
    ],
)
def test_managed_identity_types(identity: Any, expected: Status) -> None:
    site = _site()
    site["identity"] = identity
    assert _status("appservice_site_managed_identity_enabled", site, phi=True) == expected


def test_phi_only_checks_do_not_run_on_non_phi_apps() -> None:
    site = _site(publicNetworkAccess="Enabled")
    assert _run("appservice_site_public_network_access_disabled", site, phi=False) is None
    assert _run("appservice_site_managed_identity_enabled", site, phi=False) is None
    assert _run("appservice_site_public_network_access_disabled", site, phi=True) is not None


def test_phi_scope_from_resource_group_tags() -> None:
    snapshot = Snapshot(_site(publicNetworkAccess="Enabled"), {}, {"tags": {"HIPAA": "True"}})
    ids = {f.check_id: f.status for f in ENGINE.evaluate(snapshot).findings}
    assert ids["appservice_site_public_network_access_disabled"] == Status.FAIL


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("disabled", Status.PASS),
        ("Disabled", Status.PASS),
        ("Enabled", Status.FAIL),
        ("", Status.FAIL),
        ("Off", Status.ERROR),
        (False, Status.ERROR),
    ],
)
def test_public_network_access_values(value: Any, expected: Status) -> None:
    site = _site(publicNetworkAccess=value)
    assert _status("appservice_site_public_network_access_disabled", site, phi=True) == expected


def _diag(categories: list[str]) -> dict[str, Any]:
    doc = json.loads(
        (FIXTURES / "appservice_site_resource_logs_enabled" / "pass_functionapp.json").read_text()
    )
    setting: dict[str, Any] = copy.deepcopy(doc["related"]["diagnostic_settings"][0])
    setting["properties"]["logs"] = [{"category": c, "enabled": True} for c in categories]
    return setting


@pytest.mark.parametrize("kind", ["functionapp", "functionapp,linux", "functionapp,workflowapp"])
def test_function_app_logs_count_only_for_function_apps(kind: str) -> None:
    related = {"diagnostic_settings": [_diag(["FunctionAppLogs"])]}
    function_app = _site()
    function_app["kind"] = kind
    assert _status("appservice_site_resource_logs_enabled", function_app, related, True) == (
        Status.PASS
    )
    web_app = _site()
    assert _status("appservice_site_resource_logs_enabled", web_app, related, True) == Status.FAIL


def test_web_app_log_categories_are_case_insensitive() -> None:
    related = {"diagnostic_settings": [_diag(["appservicehttplogs"])]}
    assert _status("appservice_site_resource_logs_enabled", _site(), related, True) == Status.PASS


def test_disabled_log_category_does_not_count() -> None:
    setting = _diag(["AppServiceHTTPLogs"])
    setting["properties"]["logs"][0]["enabled"] = False
    related = {"diagnostic_settings": [setting]}
    assert _status("appservice_site_resource_logs_enabled", _site(), related, True) == Status.FAIL


def test_remote_debugging_absent_is_off_and_non_boolean_errors() -> None:
    config = _config()
    del config["properties"]["remoteDebuggingEnabled"]
    related = {"web_config": config}
    assert _status("appservice_site_remote_debugging_disabled", _site(), related) == Status.PASS
    related = {"web_config": _config(remoteDebuggingEnabled="false")}
    assert _status("appservice_site_remote_debugging_disabled", _site(), related) == Status.ERROR


def test_reasons_name_the_app_kind() -> None:
    site = _site(httpsOnly=False)
    site["kind"] = "functionapp"
    finding = _run("appservice_site_https_only", site)
    assert finding is not None and "function app" in finding.reason
