"""Routing settings: strict parsing naming the setting, the most specific scope wins."""

from __future__ import annotations

import pytest

from shared.issues.routing import (
    DEFAULT_OWNER_TAG,
    Route,
    RoutingError,
    assignee,
    parse_owner_tag,
    parse_routes,
)

SUB = "00000000-0000-0000-0000-000000000001"
OTHER = "00000000-0000-0000-0000-000000000002"
SETTING = (
    f"/subscriptions/{SUB}=github:contoso/phi-compliance, "
    f"/subscriptions/{SUB}/resourceGroups/RG-Shop=azure-devops:contoso/Shop Project,"
    f"{OTHER}=ado:fabrikam/infra,"
    "*=github:contoso/catch-all"
)


def test_the_most_specific_scope_holding_the_resource_wins_case_insensitively() -> None:
    routes = parse_routes(SETTING)
    nsg = "/providers/Microsoft.Network/networkSecurityGroups/n"
    assert routes.route(f"/subscriptions/{SUB}/resourceGroups/rg-shop{nsg}") == Route(
        "azure-devops", "contoso", "Shop Project"
    )
    assert routes.route(f"/SUBSCRIPTIONS/{SUB}/resourceGroups/rg-data{nsg}") == Route(
        "github", "contoso", "phi-compliance"
    )
    assert routes.route(f"/subscriptions/{SUB}/resourceGroups/rg-shop2{nsg}") == Route(
        "github", "contoso", "phi-compliance"
    )
    assert routes.route(f"/subscriptions/{OTHER}/resourceGroups/x{nsg}") == Route(
        "azure-devops", "fabrikam", "infra"
    )
    assert routes.route(
        f"/subscriptions/00000000-0000-0000-0000-000000000009/resourceGroups/x{nsg}"
    ) == Route("github", "contoso", "catch-all")
    assert Route("github", "contoso", "x").target == "github:contoso/x"


def test_no_setting_no_routes_and_no_catch_all_no_issue() -> None:
    assert not parse_routes(None) and not parse_routes("  ")
    routes = parse_routes(f"{SUB}=github:o/r")
    assert routes.route(f"/subscriptions/{OTHER}/resourceGroups/x") is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("github:o/r", "entry 1 must be <scope>=<tracker>"),
        (f"{SUB}=github:o/r,", "entry 2 is empty"),
        (f"{SUB}=gitlab:o/r", "tracker must be github"),
        (f"{SUB}=github:o", "exactly OWNER/NAME"),
        (f"{SUB}=github:o/r/x", "exactly OWNER/NAME"),
        (f"{SUB}=github:-bad/r", "cannot"),
        (f"{SUB}=github:o/r$", "cannot"),
        (f"{SUB}=ado:org/pro;ject", "cannot"),
        ("sub-1=github:o/r", "scope must be \\*, a subscription id"),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/A.B/c/d=github:o/r",
            "subscription or resource group",
        ),
        (f"/subscriptions/{SUB}/../x=github:o/r", "not a resource id"),
        (
            f"{SUB}=github:o/r,/subscriptions/{SUB.upper()}=github:o/s",
            "entry 2: scope .* listed twice",
        ),
        ("*=github:o/r,*=github:o/s", "listed twice"),
    ],
)
def test_malformed_routes_are_refused_naming_the_setting_and_entry(text: str, match: str) -> None:
    with pytest.raises(RoutingError, match=f"PHIGUARD_ISSUES_ROUTES.*{match}"):
        parse_routes(text)


def test_the_owner_tag_setting_and_the_assignee() -> None:
    assert parse_owner_tag(None) == parse_owner_tag(" ") == DEFAULT_OWNER_TAG == "owner"
    assert parse_owner_tag("cost-owner") == "cost-owner"
    with pytest.raises(RoutingError, match="PHIGUARD_OWNER_TAG"):
        parse_owner_tag("own=er")
    assert assignee({"cost-owner": "bob", "owner": "alice"}, "cost-owner") == "bob"
    assert assignee({"patient": "Jane"}) is None


def test_a_route_builds_its_tracker_and_a_missing_secret_names_the_setting() -> None:
    from shared.issues.devops import AzureDevOpsWorkItems
    from shared.issues.github import GitHubIssues
    from shared.issues.routing import tracker_for

    github = tracker_for(Route("github", "contoso", "phi"), github_token="t0ken")
    assert isinstance(github, GitHubIssues) and github.repository == "contoso/phi"
    devops = tracker_for(
        Route("azure-devops", "contoso", "PHI"), devops_pat="p4t", closed_state="Done"
    )
    assert isinstance(devops, AzureDevOpsWorkItems) and devops.closed_state == "Done"
    with pytest.raises(RoutingError, match=r"github:contoso/phi needs PHIGUARD_GITHUB_TOKEN$"):
        tracker_for(Route("github", "contoso", "phi"), devops_pat="p4t")
    with pytest.raises(RoutingError, match=r"needs PHIGUARD_ADO_PAT or a managed identity$"):
        tracker_for(Route("azure-devops", "contoso", "PHI"), github_token="t0ken")
