"""The NSG remediation on the shared model: partial shadows, fixed points, admin CIDRs."""

from __future__ import annotations

from typing import Any

import pytest

from remediations import REMEDIATIONS
from remediations.paths import parse_path
from remediations.plan import PlanError, apply_writes
from remediations.registry import RemediationOptions, check_statuses
from shared.kernel.findings import Status
from shared.kernel.snapshot import Snapshot

ITEM = REMEDIATIONS["network_nsg_restrict_internet_inbound"]
NSG_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1"
RESTRICT = RemediationOptions(nsg_strategy="restrict", admin_cidrs=("198.51.100.0/24",))
MGMT = "network_nsg_management_ports_internet_closed"
PHI_IN = "network_nsg_phi_internet_inbound_denied"


def rule(name: str, priority: int, **props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "3389",
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
    return {
        "name": name,
        "id": f"{NSG_ID}/securityRules/{name}",
        "etag": 'W/"1"',
        "properties": base,
    }


def nsg(*rules: dict[str, Any], phi: bool = False, **props: Any) -> Snapshot:
    return Snapshot(
        {
            "id": NSG_ID,
            "name": "n1",
            "type": "Microsoft.Network/networkSecurityGroups",
            "properties": {"securityRules": list(rules), **props},
        },
        phi=phi,
    )


def changed_rules(plan: Any) -> set[str]:
    return {str(parse_path(p)[2][1]) for p in plan.after}


def test_an_allow_only_partly_shadowed_is_tightened() -> None:
    snapshot = nsg(
        rule("DenyOneHost", 100, access="Deny", destinationAddressPrefix="10.0.0.4"),
        rule("AllowRdp", 200),
    )
    assert check_statuses([MGMT], snapshot) == {MGMT: Status.FAIL}
    plan = ITEM.plan(snapshot)
    assert plan is not None and changed_rules(plan) == {"AllowRdp"}
    fixed = apply_writes(snapshot, plan.writes)
    assert check_statuses([MGMT], fixed) == {MGMT: Status.PASS}


def test_a_fully_shadowed_allow_is_left_alone() -> None:
    snapshot = nsg(
        rule(
            "DenyRdp", 100, access="Deny", protocol="*", destinationAddressPrefix="VirtualNetwork"
        ),
        rule("AllowRdp", 200),
    )
    assert ITEM.plan(snapshot) is None


def test_restrict_reaches_a_fixed_point_when_a_shadowed_allow_is_uncovered() -> None:
    # AllowRdpAgain exposes nothing while AllowRdp (first) decides the same packets; once
    # AllowRdp is restricted to the admin range, they would fall through to it.
    snapshot = nsg(rule("AllowRdp", 100), rule("AllowRdpAgain", 200))
    deny = ITEM.plan(snapshot)
    assert deny is not None and changed_rules(deny) == {"AllowRdp"}  # Deny lets nothing through
    restrict = ITEM.plan(snapshot, RESTRICT)
    assert restrict is not None and changed_rules(restrict) == {"AllowRdp", "AllowRdpAgain"}
    fixed = apply_writes(snapshot, restrict.writes)
    assert check_statuses([MGMT], fixed) == {MGMT: Status.PASS}
    assert ITEM.plan(fixed, RESTRICT) is None


def test_restrict_replaces_an_internet_wide_public_range_and_keeps_named_ones() -> None:
    snapshot = nsg(
        rule(
            "AllowSsh",
            100,
            destinationPortRange="22",
            sourceAddressPrefix=None,
            sourceAddressPrefixes=["203.0.113.0/24", "0.0.0.0/1", "128.0.0.0/1"],
        )
    )
    plan = ITEM.plan(snapshot, RESTRICT)
    assert plan is not None
    assert plan.after == {
        "properties.securityRules[name=AllowSsh].properties.sourceAddressPrefixes": [
            "203.0.113.0/24",
            "198.51.100.0/24",
        ]
    }


@pytest.mark.parametrize(
    ("admin", "message"),
    [
        (("0.0.0.0/0",), "Internet-wide"),
        (("20.0.0.0/8",), "Internet-wide"),
        (("Internet",), "Internet-wide"),
        (("VirtualNetwork",), "not an address range"),
        (("10.0.0.300/24",), "not an address range"),
        ((), "admin CIDRs"),
    ],
)
def test_restrict_refuses_admin_ranges_that_would_close_nothing(
    admin: tuple[str, ...], message: str
) -> None:
    options = RemediationOptions(nsg_strategy="restrict", admin_cidrs=admin)
    with pytest.raises(PlanError, match=message):
        ITEM.plan(nsg(rule("AllowRdp", 100)), options)
    assert (
        ITEM.plan(nsg(rule("Office", 100, sourceAddressPrefix="203.0.113.0/24")), options) is None
    )


def test_phi_nsg_closes_every_internet_rule_even_if_partly_shadowed() -> None:
    snapshot = nsg(
        rule("DenyTcp", 100, access="Deny", destinationPortRange="*"),
        rule("AllowWeb", 200, protocol="*", destinationPortRange="443"),
        phi=True,
    )
    plan = ITEM.plan(snapshot)
    assert plan is not None and changed_rules(plan) == {"AllowWeb"}  # UDP/ICMP 443 still open
    assert check_statuses([PHI_IN], apply_writes(snapshot, plan.writes)) == {PHI_IN: Status.PASS}


def test_nothing_is_planned_when_the_rules_are_not_visible() -> None:
    snapshot = Snapshot(
        {
            "id": NSG_ID,
            "name": "n1",
            "type": "Microsoft.Network/networkSecurityGroups",
            "properties": {},
        },
        phi=True,
    )
    assert check_statuses([MGMT, PHI_IN], snapshot) == {
        MGMT: Status.NOT_ASSESSED,
        PHI_IN: Status.NOT_ASSESSED,
    }
    assert ITEM.plan(snapshot) is None


def test_an_exposing_default_rule_cannot_be_fixed() -> None:
    hostile_default = rule("AllowVnetInBound", 65000, protocol="*", destinationPortRange="*")
    snapshot = nsg(defaultSecurityRules=[hostile_default], phi=True)
    with pytest.raises(PlanError, match="cannot be changed"):
        ITEM.plan(snapshot)


def test_a_rule_without_a_name_cannot_be_written() -> None:
    nameless = rule("x", 100)
    del nameless["name"]
    with pytest.raises(PlanError, match="no name"):
        ITEM.plan(nsg(nameless))


@pytest.mark.parametrize(
    "name", ["Open]Rdp", "x]]y[", "[bold]evil[x]"]
)  # ARM names never hold "/" (nor a backslash: see the refusal test below)
@pytest.mark.parametrize("options", [RemediationOptions(), RESTRICT], ids=["deny", "restrict"])
def test_rules_named_with_brackets_are_fixed_too(name: str, options: RemediationOptions) -> None:
    snapshot = nsg(rule(name, 100))
    plan = ITEM.plan(snapshot, options)
    assert plan is not None and changed_rules(plan) == {name}
    assert [w.target_id.rsplit("/", 1)[-1] for w in plan.writes] == [name]
    assert check_statuses([MGMT], apply_writes(snapshot, plan.writes)) == {MGMT: Status.PASS}


@pytest.mark.parametrize(
    "rule_patch",
    [
        {"name": "a/../../../otherNsg/securityRules/b"},
        {"name": ".."},
        {"name": "x\\y"},
        {
            "id": "/subscriptions/other/resourceGroups/rg/providers/Microsoft.Network/"
            "networkSecurityGroups/elsewhere/securityRules/AllowRdp"
        },
    ],
    ids=["slash", "dot-segment", "backslash", "foreign-id"],
)
def test_a_fix_is_never_written_outside_the_nsg_that_was_judged(rule_patch: dict[str, str]) -> None:
    """Regression: the write went to the rule's embedded ``id`` (or ``{nsg}/securityRules/{name}``
    unchecked), so a body naming another NSG's rule steered the fix there."""
    rule = {
        "name": "AllowRdp",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "3389",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 100,
            "direction": "Inbound",
        },
    } | rule_patch
    with pytest.raises(PlanError, match=r"single id segment|does not belong"):
        ITEM.plan(nsg(rule))
