"""Email routing: the PHIGUARD_NOTIFY_* settings parsed, recipients by severity, subscription,
resource group and the owner tag (allowed domains only)."""

from __future__ import annotations

import pytest

from shared.kernel.findings import Severity
from shared.notify.routing import (
    Route,
    Routing,
    RoutingError,
    parse_addresses,
    parse_domains,
    parse_routes,
)

from .samples import SUB, notices

ENV = {
    "PHIGUARD_NOTIFY_EMAIL_TO": "SecOps@contoso.com, compliance@contoso.com,secops@contoso.com",
    "PHIGUARD_NOTIFY_ROUTES": (
        "severity:critical=oncall@contoso.com; "
        f"subscription:{SUB.upper()}=sub-owner@contoso.com;"
        "resource_group:RG-PHI-DATA=data-team@contoso.com,oncall@contoso.com;"
        f"resource_group:{SUB}/rg-phi-net=net-team@contoso.com"
    ),
    "PHIGUARD_NOTIFY_OWNER_TAG": "Owner",
    "PHIGUARD_NOTIFY_OWNER_DOMAINS": "contoso.com, @fabrikam.com",
}


def test_settings_parse() -> None:
    routing = Routing.from_settings(ENV)
    assert routing.default == ("secops@contoso.com", "compliance@contoso.com")
    assert routing.routes[0] == Route("severity", "critical", ("oncall@contoso.com",))
    assert routing.routes[1].value == SUB
    assert routing.owner_tag == "Owner"
    assert routing.owner_domains == {"contoso.com", "fabrikam.com"}
    assert Routing.from_settings({}) == Routing()


def test_recipients_by_severity_subscription_group_and_owner() -> None:
    routing = Routing.from_settings(ENV)
    failure, hostile, fix, _held, digest, test = notices()
    assert routing.for_notice(failure) == (
        "secops@contoso.com",
        "compliance@contoso.com",
        "oncall@contoso.com",
        "sub-owner@contoso.com",
        "data-team@contoso.com",
        "dana@contoso.com",
    )
    assert routing.for_notice(hostile) == (  # HIGH, rg-phi-net, no owner
        "secops@contoso.com",
        "compliance@contoso.com",
        "sub-owner@contoso.com",
        "net-team@contoso.com",
    )
    assert "oncall@contoso.com" in routing.for_notice(fix)  # via its resource group
    assert routing.for_notice(digest) == routing.for_notice(test) == routing.default
    other = routing.recipients(severity=Severity.LOW, subscription_id="other", resource_group="x")
    assert other == routing.default


def test_owner_tag_only_within_allowed_domains() -> None:
    routing = Routing.from_settings(ENV)
    assert routing.owner_of({"owner": " Dana@Contoso.com "}) == "dana@contoso.com"
    assert routing.owner_of({"OWNER": "eve@fabrikam.com"}) == "eve@fabrikam.com"
    assert routing.owner_of({"owner": "mallory@evil.example"}) == ""
    assert routing.owner_of({"owner": "dana@contoso.com.evil.example"}) == ""
    assert routing.owner_of({"owner": "Dana <dana@contoso.com>"}) == ""
    assert routing.owner_of({"owner": "dana@contoso.com\r\nBcc: x@evil.example"}) == ""
    assert routing.owner_of({"team": "dana@contoso.com"}) == ""
    assert routing.owner_of(None) == ""
    # without allowed domains, owner routing is off, even for an owner passed in directly
    closed = Routing(default=("a@contoso.com",))
    assert closed.owner_of({"owner": "dana@contoso.com"}) == ""
    assert closed.recipients(owner="dana@contoso.com") == ("a@contoso.com",)
    assert routing.recipients(owner="mallory@evil.example") == routing.default


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("severity:URGENT=a@contoso.com", "unknown severity"),
        ("team:x=a@contoso.com", "scope one of"),
        ("severity:HIGH", "scope one of"),
        ("severity:HIGH=", "names no address"),
        ("severity:HIGH=not-an-address", "not an email address"),
        ("resource_group:=a@contoso.com", "scope one of"),
    ],
)
def test_bad_routes_name_the_setting(value: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message) as caught:
        parse_routes(value)
    assert "PHIGUARD_NOTIFY_ROUTES" in str(caught.value)


def test_bad_addresses_and_domains_are_refused() -> None:
    with pytest.raises(RoutingError, match="PHIGUARD_NOTIFY_EMAIL_TO"):
        parse_addresses("a@contoso.com, b@")
    with pytest.raises(RoutingError, match="PHIGUARD_NOTIFY_EMAIL_TO"):
        parse_addresses("a@contoso.com\nBcc: x@evil.example")
    with pytest.raises(RoutingError, match="PHIGUARD_NOTIFY_OWNER_DOMAINS"):
        parse_domains("contoso")
    assert parse_addresses("") == () and parse_routes(" ; ") == ()
