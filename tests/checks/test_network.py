"""Network checks: NSG rule evaluation, flow-log coverage, subnet NSGs and private endpoints."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from checks import CATALOG
from checks.network import BROAD_PORT_THRESHOLD
from shared.engine import Engine
from shared.kernel.findings import Finding, Status
from shared.kernel.snapshot import Snapshot
from tests.checks.helpers import finding as run
from tests.checks.helpers import result, status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"

MGMT = "network_nsg_management_ports_internet_closed"
DB = "network_nsg_database_ports_internet_closed"
BROAD = "network_nsg_broad_port_range_internet_closed"
PHI_IN = "network_nsg_phi_internet_inbound_denied"
FLOW = "network_nsg_flow_logs_enabled"
RETAIN = "network_nsg_flow_logs_retained"
SUBNETS = "network_vnet_subnets_nsg_associated"
PE = "network_private_endpoint_connection_approved"


def _fixture(check_id: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / check_id / f"{name}.json").read_text())
    return data


# Published bodies (see the fixtures): NSG "testnsg", VNet "test-vnet", private endpoint "testPe",
# flow log "flowLog1" (retention 0 days, disabled = kept without expiry).
NSG: dict[str, Any] = _fixture(MGMT, "pass_reference")["resource"]
VNET: dict[str, Any] = _fixture(SUBNETS, "fail_reference")["resource"]
ENDPOINT: dict[str, Any] = _fixture(PE, "pass_reference")["resource"]
FLOW_LOG: dict[str, Any] = _fixture(FLOW, "pass_nsg_flow_log")["related"]["flow_logs"][0]
SUBNET1 = VNET["properties"]["subnets"][0]["id"]


def rule(name: str = "r", priority: int = 200, **props: Any) -> dict[str, Any]:
    base = {
        "protocol": "*",
        "sourcePortRange": "*",
        "destinationPortRange": "80",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
    }
    for key, value in props.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return {"name": name, "properties": base}


def nsg(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = copy.deepcopy(NSG)
    body["properties"]["securityRules"] = list(rules)
    body["properties"].update(extra)
    return body


# --- NSG rules: the document, defaults and sources ----------------------------------------------


@pytest.mark.parametrize("check_id", [MGMT, DB, BROAD, PHI_IN])
@pytest.mark.parametrize("how", ["absent", "null"])
def test_nsg_without_security_rules_is_not_assessed(check_id: str, how: str) -> None:
    # ARM GET bodies always carry securityRules (even []); without it the own rules are unseen.
    # (Before: PASS, "absent means none".)
    body = copy.deepcopy(NSG)
    if how == "absent":
        del body["properties"]["securityRules"]
    else:
        body["properties"]["securityRules"] = None
    finding = result(check_id, body, phi=True)
    assert finding.status == Status.NOT_ASSESSED
    assert "properties.securityRules" in finding.reason
    assert finding.evidence["properties.securityRules"]["absent"] is True


@pytest.mark.parametrize("check_id", [MGMT, DB, BROAD, PHI_IN])
def test_empty_security_rules_are_judged_with_the_default_rules(check_id: str) -> None:
    body = nsg()
    assert body["properties"]["securityRules"] == []
    finding = result(check_id, body, phi=True)
    assert finding.status == Status.PASS
    # DenyAllInBound is Azure's and matches Internet traffic: it is evaluated, and recorded.
    assert finding.evidence["properties.defaultSecurityRules[2]"]["name"] == "DenyAllInBound"


def test_default_rules_expose_nothing() -> None:
    body = nsg()
    # AllowVnetInBound etc. are Azure's own; their "*" ports must not count as exposure.
    assert body["properties"]["defaultSecurityRules"]
    assert status(BROAD, body) == Status.PASS
    assert status(PHI_IN, body, phi=True) == Status.PASS


def test_absent_default_rules_are_assumed_and_say_so() -> None:
    body = nsg(rule(destinationPortRange="22", sourceAddressPrefix="10.0.0.0/8"))
    del body["properties"]["defaultSecurityRules"]
    finding = result(MGMT, body)
    assert finding.status == Status.PASS
    assert finding.evidence["properties.defaultSecurityRules"] == {
        "absent": True,
        "assumed": ["AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"],
    }


def test_a_packet_no_rule_matches_is_denied() -> None:
    body = nsg(rule(destinationPortRange="22", sourceAddressPrefix="10.0.0.0/8"))
    body["properties"]["defaultSecurityRules"] = []  # hostile: no DenyAllInBound shown
    assert status(MGMT, body) == Status.PASS


def test_an_internet_allow_among_the_documents_default_rules_counts() -> None:
    body = nsg()
    body["properties"]["defaultSecurityRules"][0]["properties"]["sourceAddressPrefix"] = "*"
    finding = result(PHI_IN, body, phi=True)
    assert finding.status == Status.FAIL
    assert "'AllowVnetInBound'" in finding.reason


@pytest.mark.parametrize("source", ["*", "Internet", "internet", "Any", "0.0.0.0/0", "::/0"])
def test_every_internet_spelling_exposes_ssh(source: str) -> None:
    assert status(MGMT, nsg(rule(destinationPortRange="22", sourceAddressPrefix=source))) == (
        Status.FAIL
    )


@pytest.mark.parametrize(
    "source", ["0.0.0.0/1", "128.0.0.0/1", "20.0.0.0/8", "10.0.0.0/7", "2000::/3", "2001:db8::/32"]
)
def test_internet_wide_public_ranges_count_as_the_internet(source: str) -> None:
    assert status(MGMT, nsg(rule(destinationPortRange="3389", sourceAddressPrefix=source))) == (
        Status.FAIL
    )


@pytest.mark.parametrize(
    "source",
    [
        "VirtualNetwork",
        "10.0.0.0/8",
        "203.0.113.7",
        "AzureCloud",
        "AzureLoadBalancer",
        "20.0.0.0/9",
        "2001:db8::/33",
        "0.0.0.0",
        "172.16.0.0/12",
    ],
)
def test_non_internet_sources_do_not_count(source: str) -> None:
    body = nsg(rule(destinationPortRange="3389", sourceAddressPrefix=source))
    assert status(MGMT, body) == Status.PASS
    assert status(PHI_IN, body, phi=True) == Status.PASS


def test_two_narrow_halves_are_not_the_internet() -> None:
    # Documented limit: Internet-wide is judged per source entry, not summed over rules.
    body = nsg(
        rule("a", 100, destinationPortRange="22", sourceAddressPrefix="20.0.0.0/9"),
        rule("b", 110, destinationPortRange="22", sourceAddressPrefix="20.128.0.0/9"),
    )
    assert status(MGMT, body) == Status.PASS


def test_internet_in_source_prefixes_list_counts() -> None:
    body = nsg(
        rule(
            destinationPortRange="5986",
            sourceAddressPrefix=None,
            sourceAddressPrefixes=["10.1.0.0/16", "0.0.0.0/0"],
        )
    )
    finding = result(MGMT, body)
    assert finding.status == Status.FAIL
    assert "5986" in finding.reason


def test_values_are_case_insensitive() -> None:
    body = nsg(rule(destinationPortRange="22", access="allow", direction="INBOUND", protocol="tcp"))
    assert status(MGMT, body) == Status.FAIL


def test_outbound_and_deny_rules_expose_nothing() -> None:
    body = nsg(
        rule("out", destinationPortRange="22", direction="Outbound"),
        rule("deny", priority=300, destinationPortRange="3389", access="Deny"),
    )
    assert status(MGMT, body) == Status.PASS


def test_port_lists_and_ranges_overlap_management_ports() -> None:
    body = nsg(rule(destinationPortRange=None, destinationPortRanges=["80", "3380-3390"]))
    finding = result(MGMT, body)
    assert finding.status == Status.FAIL
    assert "3389" in finding.reason and "3380" not in finding.reason


def test_source_application_security_group_is_not_the_internet() -> None:
    asg = {"id": f"{NSG['id'].rsplit('/', 2)[0]}/applicationSecurityGroups/web"}
    body = nsg(
        rule(
            destinationPortRange="22",
            sourceAddressPrefix=None,
            sourceApplicationSecurityGroups=[asg],
        )
    )
    assert status(MGMT, body) == Status.PASS


# --- NSG rules: priority evaluation, exact in every dimension ------------------------------------


def test_higher_priority_deny_shadows_allow() -> None:
    body = nsg(
        rule("deny-ssh", priority=100, access="Deny", destinationPortRange="22"),
        rule("allow-ssh", priority=200, destinationPortRange="22"),
    )
    assert status(MGMT, body) == Status.PASS
    assert status(PHI_IN, body, phi=True) == Status.PASS


def test_lower_priority_deny_does_not_shadow() -> None:
    body = nsg(
        rule("allow-ssh", priority=100, destinationPortRange="22"),
        rule("deny-ssh", priority=200, access="Deny", destinationPortRange="22"),
    )
    assert status(MGMT, body) == Status.FAIL


def test_deny_of_one_protocol_leaves_the_other_open() -> None:
    body = nsg(
        rule("deny-tcp", priority=100, access="Deny", protocol="Tcp", destinationPortRange="3389"),
        rule("allow-all", priority=200, destinationPortRange="3389"),
    )
    finding = result(MGMT, body)
    assert finding.status == Status.FAIL
    assert "UDP" in finding.reason and "TCP" not in finding.reason


def test_deny_from_narrow_source_does_not_shadow_internet_allow() -> None:
    body = nsg(
        rule(
            "deny-one",
            priority=100,
            access="Deny",
            sourceAddressPrefix="198.51.100.0/24",
            destinationPortRange="22",
        ),
        rule("allow-ssh", priority=200, destinationPortRange="22"),
    )
    assert status(MGMT, body) == Status.FAIL


def test_deny_of_one_destination_host_does_not_close_an_allow_to_every_host() -> None:
    # The bug this model fixes: a Deny that covers the port but one host only used to "shadow"
    # an RDP Allow from the Internet to every host.
    body = nsg(
        rule(
            "deny-one-host",
            priority=100,
            access="Deny",
            destinationAddressPrefix="10.0.0.4",
            destinationPortRange="3389",
        ),
        rule("allow-rdp", priority=200, destinationPortRange="3389"),
    )
    finding = result(MGMT, body)
    assert finding.status == Status.FAIL
    assert "'allow-rdp'" in finding.reason and "to some destinations" in finding.reason
    (exposure,) = finding.evidence["internet_exposure"]
    assert exposure["rule"] == "allow-rdp"
    assert exposure["destinations"][0] == "0.0.0.0/5"  # every address but 10.0.0.4
    assert "10.0.0.4/32" not in exposure["destinations"]


def test_deny_of_some_source_ports_does_not_close_the_allow() -> None:
    body = nsg(
        rule(
            "deny-low-ports",
            priority=100,
            access="Deny",
            sourcePortRange="0-1023",
            destinationPortRange="3389",
        ),
        rule("allow-rdp", priority=200, destinationPortRange="3389"),
    )
    assert status(MGMT, body) == Status.FAIL


def test_denies_that_together_cover_every_source_port_close_the_allow() -> None:
    body = nsg(
        rule("deny-low", 100, access="Deny", sourcePortRange="0-1023", destinationPortRange="22"),
        rule(
            "deny-high",
            110,
            access="Deny",
            sourcePortRange=None,
            sourcePortRanges=["1024-60000", "60001-65535"],
            destinationPortRange="22",
        ),
        rule("allow-ssh", 200, destinationPortRange="22"),
    )
    assert status(MGMT, body) == Status.PASS


def test_deny_to_virtual_network_covers_every_protected_host() -> None:
    body = nsg(
        rule("deny", 100, access="Deny", destinationAddressPrefix="VirtualNetwork", protocol="*"),
        rule("allow", 200, destinationPortRange="22", destinationAddressPrefix="*"),
    )
    body["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = "*"
    assert status(MGMT, body) == Status.PASS


def test_deny_to_an_application_security_group_closes_only_that_group() -> None:
    web = {"id": f"{NSG['id'].rsplit('/', 2)[0]}/applicationSecurityGroups/web"}
    db = {"id": f"{NSG['id'].rsplit('/', 2)[0]}/applicationSecurityGroups/db"}

    def to(groups: list[dict[str, str]], name: str, priority: int, **kw: Any) -> dict[str, Any]:
        return rule(
            name,
            priority,
            destinationAddressPrefix=None,
            destinationApplicationSecurityGroups=groups,
            destinationPortRange="22",
            **kw,
        )

    deny_web = to([web], "deny-web", 100, access="Deny")
    assert status(MGMT, nsg(deny_web, to([web], "allow-web", 200))) == Status.PASS
    assert status(MGMT, nsg(deny_web, to([web, db], "allow-both", 200))) == Status.FAIL
    everyone = rule("allow-all", 200, destinationPortRange="22")
    finding = result(MGMT, nsg(deny_web, everyone))
    assert finding.status == Status.FAIL  # a group is never known to hold every host
    assert finding.evidence["internet_exposure"][0]["destinations"][-1].startswith("not asg:")


def test_deny_from_a_service_tag_hides_no_internet_traffic() -> None:
    body = nsg(
        rule("deny-cloud", 100, access="Deny", sourceAddressPrefix="AzureCloud"),
        rule("allow-ssh", 200, destinationPortRange="22"),
    )
    body["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = "*"
    assert status(MGMT, body) == Status.FAIL


def test_narrow_allow_first_does_not_hide_a_wide_allow_after_it() -> None:
    body = nsg(
        rule("office", 100, destinationPortRange="22", sourceAddressPrefix="203.0.113.0/24"),
        rule("anyone", 200, destinationPortRange="22"),
    )
    finding = result(MGMT, body)
    assert finding.status == Status.FAIL
    assert "'anyone'" in finding.reason and "'office'" not in finding.reason
    (exposure,) = finding.evidence["internet_exposure"]
    assert exposure["sources"][:2] == ["Internet except", "203.0.113.0/24"]


def test_wide_allow_fully_shadowed_by_an_earlier_wide_allow_is_not_named() -> None:
    body = nsg(
        rule("first", 100, destinationPortRange="22"),
        rule("second", 200, destinationPortRange="22"),
    )
    finding = result(MGMT, body)
    assert "'first'" in finding.reason and "'second'" not in finding.reason


def test_duplicate_inbound_priorities_are_malformed() -> None:
    body = nsg(
        rule("a", 100, destinationPortRange="22"),
        rule("b", 100, destinationPortRange="23", access="Deny"),
    )
    finding = result(MGMT, body)
    assert finding.status == Status.ERROR
    assert "share priority 100" in finding.reason
    body["properties"]["securityRules"][1]["properties"]["direction"] = "Outbound"
    assert status(MGMT, body) == Status.FAIL


def test_too_fragmented_rule_sets_are_not_assessed(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.kernel import nsg as model

    monkeypatch.setattr(model, "MAX_PIECES", 2)
    body = nsg(
        rule("d1", 100, access="Deny", destinationAddressPrefix="10.0.0.4", sourcePortRange="1"),
        rule("d2", 110, access="Deny", destinationPortRange="81", sourcePortRange="2-3"),
        rule("allow", 200, destinationPortRange="*"),
    )
    finding = result(PHI_IN, body, phi=True)
    assert finding.status == Status.NOT_ASSESSED
    assert "too fragmented" in finding.reason


# --- broad ranges: the threshold -----------------------------------------------------------------


def test_broad_range_counts_ports_left_after_denies() -> None:
    open_count = BROAD_PORT_THRESHOLD
    body = nsg(
        rule(
            "deny-most", priority=100, access="Deny", destinationPortRange=f"0-{65535 - open_count}"
        ),
        rule("allow-all", priority=200, destinationPortRange="*"),
    )
    assert status(BROAD, body) == Status.PASS  # exactly the threshold remains open
    body["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = (
        f"0-{65535 - open_count - 1}"
    )
    assert status(BROAD, body) == Status.FAIL


def test_broad_range_counts_ports_open_on_any_destination() -> None:
    body = nsg(
        rule(
            "deny-most-on-one-host",
            priority=100,
            access="Deny",
            destinationAddressPrefix="10.0.0.4",
            destinationPortRange="0-65530",
        ),
        rule("allow-all", priority=200, destinationPortRange="*"),
    )
    finding = result(BROAD, body)
    assert finding.status == Status.FAIL  # every other host still has all 65,536 ports open
    assert finding.evidence["ports_per_rule"]["allow-all"]["TCP"] == 65536


def test_broad_range_sums_the_ports_of_one_rule() -> None:
    ports = [str(8000 + 2 * i) for i in range(BROAD_PORT_THRESHOLD + 1)]
    body = nsg(rule(destinationPortRange=None, destinationPortRanges=ports))
    assert status(BROAD, body) == Status.FAIL
    body["properties"]["securityRules"][0]["properties"]["destinationPortRanges"] = ports[:-1]
    assert status(BROAD, body) == Status.PASS


def test_evidence_records_the_internet_rules() -> None:
    finding = result(BROAD, nsg(rule("wide", destinationPortRange="*")))
    entry = finding.evidence["properties.securityRules[0]"]
    assert entry["name"] == "wide" and entry["ports"] == ["*"]
    assert entry["internet_wide_sources"] == ["*"]
    assert finding.evidence["threshold_ports_per_rule"] == BROAD_PORT_THRESHOLD


# --- PHI scope -----------------------------------------------------------------------------------


def test_phi_check_runs_only_in_phi_scope() -> None:
    body = nsg(rule(destinationPortRange="443"))
    assert run(PHI_IN, body, phi=False) is None
    assert status(PHI_IN, body, phi=True) == Status.FAIL


def test_phi_scope_from_resource_group_tag() -> None:
    body = nsg(rule(destinationPortRange="443"))
    evaluation = Engine().evaluate(Snapshot(body, {}, {"tags": {"Data-Classification": "ePHI"}}))
    assert {f.check_id: f.status for f in evaluation.findings}[PHI_IN] == Status.FAIL


# --- malformed NSGs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"priority": "100"},
        {"priority": True},
        {"destinationPortRange": "ssh"},
        {"destinationPortRange": "70000"},
        {"destinationPortRange": None},
        {"sourcePortRange": None},
        {"sourcePortRange": "1-"},
        {"direction": None},
        {"access": "Maybe"},
        {"protocol": 6},
        {"sourceAddressPrefixes": "Internet"},
        {"sourceAddressPrefix": None},
        {"sourceAddressPrefix": "10.0.0.300/24"},
        {"sourceAddressPrefix": ""},
        {"destinationAddressPrefix": None},
        {"destinationAddressPrefix": "1.2.3.4/40"},
        {"destinationApplicationSecurityGroups": [{"name": "no-id"}]},
    ],
)
def test_malformed_rules_are_errors(bad: dict[str, Any]) -> None:
    body = nsg(rule(**{"destinationPortRange": "22", **bad}))
    for check_id in (MGMT, DB, BROAD, PHI_IN):
        finding = result(check_id, body, phi=True)
        assert finding.status == Status.ERROR, (check_id, bad, finding.reason)


def test_rule_that_is_not_an_object_is_an_error() -> None:
    assert status(MGMT, nsg("rule1")) == Status.ERROR  # type: ignore[arg-type]


# --- flow logs -----------------------------------------------------------------------------------


def flow_log(target: str | None = None, **props: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FLOW_LOG)
    doc["properties"]["targetResourceId"] = target or NSG["id"]
    for key, value in props.items():
        if value is None:
            doc["properties"].pop(key, None)
        else:
            doc["properties"][key] = value
    return doc


def attached(subnets: tuple[str, ...] = (), nics: tuple[str, ...] = ()) -> dict[str, Any]:
    body = copy.deepcopy(NSG)
    if subnets:
        body["properties"]["subnets"] = [{"id": s} for s in subnets]
    if nics:
        body["properties"]["networkInterfaces"] = [{"id": n} for n in nics]
    return body


VNET_ID = VNET["id"]
OTHER_SUBNET = SUBNET1.replace("test-vnet", "other-vnet")
NIC = (
    "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/vm1-nic"
)


def flow(resource: dict[str, Any], *logs: dict[str, Any]) -> Finding:
    return result(FLOW, resource, related={"flow_logs": list(logs)}, phi=True)


def retain(resource: dict[str, Any], *logs: dict[str, Any]) -> Finding:
    return result(RETAIN, resource, related={"flow_logs": list(logs)}, phi=True)


def test_flow_log_checks_are_not_assessed_without_the_related_document() -> None:
    evaluation = Engine().evaluate(Snapshot(NSG, {}, None, True))
    assert {n.check_id for n in evaluation.not_assessed} >= {FLOW, RETAIN}
    statuses = {f.check_id: f.status for f in evaluation.findings}
    assert statuses[FLOW] == statuses[RETAIN] == Status.NOT_ASSESSED


def test_flow_log_checks_only_run_in_phi_scope() -> None:
    assert run(FLOW, NSG, related={"flow_logs": [flow_log()]}, phi=False) is None


def test_flow_log_target_matches_case_insensitively() -> None:
    assert flow(NSG, flow_log(target=NSG["id"].upper() + "/")).status == Status.PASS


def test_subnet_flow_log_covers_its_subnet() -> None:
    assert flow(attached((SUBNET1,)), flow_log(target=SUBNET1)).status == Status.PASS


def test_every_subnet_needs_coverage() -> None:
    body = attached((SUBNET1, OTHER_SUBNET))
    assert flow(body, flow_log(target=VNET_ID)).status == Status.FAIL
    other_vnet = VNET_ID.replace("test-vnet", "other-vnet")
    assert flow(body, flow_log(target=VNET_ID), flow_log(target=other_vnet)).status == Status.PASS


def test_network_interface_is_covered_by_its_own_or_a_vnet_flow_log() -> None:
    body = attached(nics=(NIC,))
    assert flow(body).status == Status.FAIL
    assert flow(body, flow_log(target=NIC)).status == Status.PASS
    assert flow(body, flow_log(target=VNET_ID)).status == Status.PASS


def test_disabled_vnet_flow_log_does_not_cover() -> None:
    assert flow(attached((SUBNET1,)), flow_log(target=VNET_ID, enabled=False)).status == (
        Status.FAIL
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"enabled": "true"},
        {"enabled": None},
        {"targetResourceId": 42},
        {"retentionPolicy": "forever"},
        {"retentionPolicy": {"enabled": True, "days": "90"}},
        {"retentionPolicy": {"enabled": "yes", "days": 90}},
    ],
)
def test_malformed_flow_logs_are_errors(bad: dict[str, Any]) -> None:
    log = flow_log()
    for key, value in bad.items():
        if value is None:
            log["properties"].pop(key)
        else:
            log["properties"][key] = value
    assert retain(NSG, log).status == Status.ERROR


def test_flow_logs_list_body_is_accepted() -> None:
    finding = result(FLOW, NSG, related={"flow_logs": {"value": [flow_log()]}}, phi=True)
    assert finding.status == Status.PASS


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"enabled": False, "days": 30}, Status.PASS),  # no retention policy: never deleted
        ({"enabled": True, "days": 0}, Status.PASS),  # 0 = retain forever
        ({"enabled": True, "days": 2192}, Status.PASS),
        ({"enabled": True, "days": 2191}, Status.FAIL),
        ({"enabled": True, "days": 365}, Status.FAIL),
        ({"days": 3000}, Status.FAIL),  # enabled not reported: not assumed
        ({"enabled": True}, Status.FAIL),  # days not reported: not assumed
        (None, Status.FAIL),  # no retention policy reported: no default assumed
    ],
)
def test_retention_boundaries(policy: dict[str, Any] | None, expected: Status) -> None:
    finding = retain(NSG, flow_log(retentionPolicy=policy))
    assert finding.status == expected, finding.reason
    assert finding.evidence["required_retention_days"] == 2192


def test_retention_not_applicable_without_enabled_flow_log() -> None:
    assert retain(attached((SUBNET1,)), flow_log(enabled=False)).status == (Status.NOT_APPLICABLE)


def test_retention_judges_the_logs_that_cover_the_nsg() -> None:
    short = flow_log(target=VNET_ID, retentionPolicy={"enabled": True, "days": 30})
    long = flow_log(retentionPolicy={"enabled": False, "days": 0})
    assert retain(attached((SUBNET1,)), short).status == Status.FAIL
    assert retain(attached((SUBNET1,)), short, long).status == Status.PASS


# --- subnets -------------------------------------------------------------------------------------


def vnet(*subnets: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(VNET)
    body["properties"]["subnets"] = list(subnets)
    return body


def subnet(name: str, nsg_id: str | None = None, **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"addressPrefix": "10.0.9.0/24", **props}
    if nsg_id is not None:
        properties["networkSecurityGroup"] = {"id": nsg_id}
    return {"name": name, "id": f"{VNET_ID}/subnets/{name}", "properties": properties}


@pytest.mark.parametrize(
    "name",
    [
        "GatewaySubnet",
        "gatewaysubnet",
        "AzureFirewallSubnet",
        "AzureFirewallManagementSubnet",
        "RouteServerSubnet",
    ],
)
def test_subnets_without_nsg_support_are_exempt(name: str) -> None:
    body = vnet(subnet("app", NSG["id"]), subnet(name))
    assert status(SUBNETS, body) == Status.PASS


def test_dedicated_hsm_delegation_is_exempt() -> None:
    hsm = subnet(
        "hsm",
        delegations=[
            {
                "name": "d",
                "properties": {"serviceName": "Microsoft.HardwareSecurityModules/dedicatedHSMs"},
            }
        ],
    )
    assert status(SUBNETS, vnet(subnet("app", NSG["id"]), hsm)) == Status.PASS


def test_only_exempt_subnets_is_not_applicable() -> None:
    assert status(SUBNETS, vnet(subnet("GatewaySubnet"))) == Status.NOT_APPLICABLE


def test_null_or_empty_nsg_is_missing() -> None:
    nulled = subnet("app", networkSecurityGroup=None)
    empty = subnet("db", networkSecurityGroup={"id": ""})
    finding = result(SUBNETS, vnet(nulled, empty))
    assert finding.status == Status.FAIL
    assert "app" in finding.reason and "db" in finding.reason


def test_many_missing_subnets_are_summarised() -> None:
    finding = result(SUBNETS, vnet(*(subnet(f"s{i}") for i in range(8))))
    assert finding.status == Status.FAIL
    assert finding.reason.endswith("and 3 more.")


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "properties": "none"},
        {"properties": {}},
        {"name": "x", "properties": {"networkSecurityGroup": "nsg1"}},
        {"name": "x", "properties": {"delegations": [{"properties": {}}]}},
    ],
)
def test_malformed_subnets_are_errors(bad: dict[str, Any]) -> None:
    assert status(SUBNETS, vnet(bad)) == Status.ERROR


# --- private endpoints ---------------------------------------------------------------------------


def endpoint(status_value: Any = "Approved", manual: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(ENDPOINT)
    conn = body["properties"]["privateLinkServiceConnections"][0]
    state = conn["properties"]["privateLinkServiceConnectionState"]
    if status_value is None:
        del state["status"]
    else:
        state["status"] = status_value
    if manual:
        body["properties"]["manualPrivateLinkServiceConnections"] = [
            body["properties"]["privateLinkServiceConnections"].pop()
        ]
    return body


def test_approved_status_is_case_insensitive() -> None:
    assert status(PE, endpoint("approved")) == Status.PASS
    assert status(PE, endpoint("APPROVED", manual=True)) == Status.PASS


@pytest.mark.parametrize("value", ["Pending", "Rejected", "Disconnected", None])
def test_anything_but_approved_fails(value: str | None) -> None:
    finding = result(PE, endpoint(value, manual=value == "Pending"))
    assert finding.status == Status.FAIL
    assert "plsconnection1" in finding.reason


def test_endpoint_without_connections_fails() -> None:
    body = copy.deepcopy(ENDPOINT)
    body["properties"]["privateLinkServiceConnections"] = []
    assert status(PE, body) == Status.FAIL


@pytest.mark.parametrize("value", [1, ["Approved"], {"status": "Approved"}])
def test_malformed_connection_status_is_an_error(value: Any) -> None:
    assert status(PE, endpoint(value)) == Status.ERROR


def test_malformed_connection_state_is_an_error() -> None:
    body = copy.deepcopy(ENDPOINT)
    body["properties"]["privateLinkServiceConnections"][0]["properties"][
        "privateLinkServiceConnectionState"
    ] = "Approved"
    assert status(PE, body) == Status.ERROR


# --- metadata ------------------------------------------------------------------------------------


def test_network_catalog_metadata() -> None:
    network = {k: v for k, v in CATALOG.items() if v.service == "network"}
    assert len(network) >= 7
    assert CATALOG[MGMT].severity.value == "CRITICAL"
    assert CATALOG[PHI_IN].phi_only and CATALOG[FLOW].phi_only and CATALOG[RETAIN].phi_only
    assert CATALOG[FLOW].needs == ("flow_logs",) == CATALOG[RETAIN].needs
    assert "retired" in CATALOG[FLOW].limitations
    assert "164.316(b)(2)(i)" in CATALOG[RETAIN].hipaa
    for item in network.values():
        assert "Absent" in item.description or "absent" in item.description, item.id
