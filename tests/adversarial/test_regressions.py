"""The inputs the adversarial properties found, kept as plain regression tests (each ran red
before its fix)."""

from __future__ import annotations

import json

import pytest

from shared.engine import Engine
from shared.events import parse_delivery
from shared.kernel.phi_scope import PhiScope
from shared.kernel.resource_id import ResourceIdError, canonical
from shared.kernel.snapshot import Snapshot
from tests.adversarial.strategies import deep

SUB = "98d6f765-1897-5f92-b6a5-1a1b7fccf13a"
NSG = (
    f"/subscriptions/{SUB}/resourceGroups/rg-chs-phi-prod/providers/"
    "Microsoft.Network/networkSecurityGroups/nsg-chs-phi-data"
)
SUPPORTED = Engine().supported_types()


def _event(rid: str, **extra: object) -> dict[str, object]:
    return {
        "id": "e1",
        "topic": f"/subscriptions/{SUB}",
        "subject": rid,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-01-05T10:00:00Z",
        "data": {"resourceUri": rid, **extra},
    }


def test_a_body_holding_an_integer_of_5000_digits_is_poison_not_an_exception() -> None:
    """Was: ValueError (int_max_str_digits) out of parse_delivery, so the webhook answered 500
    and Event Grid retried the same body for 24 hours."""
    delivery = parse_delivery(b"[" + b"9" * 5_000 + b"]", supported_types=SUPPORTED)
    assert delivery.total == 1
    (poison,) = delivery.poison
    assert poison.index is None and "4300 digits" in poison.error


def test_an_event_object_holding_a_huge_integer_is_poison_not_an_exception() -> None:
    """Was: ValueError from repr() while writing the poison record of an already-parsed event."""
    delivery = parse_delivery([{"id": 10**4_400, "specversion": 10**4_400}])
    assert delivery.total == 1 and len(delivery.poison) == 1
    assert "no text form" in delivery.poison[0].raw


@pytest.mark.parametrize(
    "rid",
    [
        NSG.replace("nsg-chs-phi-data", "nsg\ud800"),  # a JSON "\ud800" escape
        NSG.replace("nsg-chs-phi-data", "nsg\x9b31m"),  # C1 CSI
        NSG.replace("nsg-chs-phi-data", "nsg\x85"),  # C1 NEL
    ],
)
def test_ids_with_lone_surrogates_or_c1_controls_are_not_canonical(rid: str) -> None:
    """Was: accepted, then the ARM read failed to encode the URL (UnicodeEncodeError), or a C1
    CSI reached the terminals the id is printed on."""
    with pytest.raises(ResourceIdError, match="characters no ARM id has"):
        canonical(rid)
    delivery = parse_delivery([_event(rid)], supported_types=SUPPORTED)
    assert not delivery.changes and len(delivery.poison) == 1


def test_an_extension_whose_scope_is_no_resource_is_poison_without_a_type_filter() -> None:
    """Was: a change whose resource_id did not parse (a whitespace-only resource-group segment
    dropped, so "providers" became the group) when no supported types were given."""
    rid = (
        f"/subscriptions/{SUB}/resourcegroups/\u2028/providers/microsoft.operationalinsights/"
        "workspaces/log/providers/Microsoft.Insights/diagnosticSettings/d"
    )
    for supported in (None, SUPPORTED):
        delivery = parse_delivery([_event(rid)], supported_types=supported)
        assert not delivery.changes
        (poison,) = delivery.poison
        assert "resourceUri" in poison.error and "resource group" in poison.error


@pytest.mark.parametrize(
    ("tags", "phi"),
    [
        ({"HIPAA": "true", "hipaa": "false"}, True),
        ({"hipaa": "false", "HIPAA": "true"}, True),
        ({"hipaa": deep(5_000, "list")}, False),
        ({"data-classification": deep(5_000, "dict", "phi")}, False),
        ({"hipaa": True}, True),
        ({"hipaa": 10**4_400}, False),
    ],
)
def test_phi_scope_reads_every_tag_and_never_stringifies_containers(
    tags: object, phi: bool
) -> None:
    """Was: the last of two spellings of a tag name decided (order-dependent scope), and a
    deeply nested tag value raised RecursionError out of the engine (str() of it)."""
    assert PhiScope().is_phi(Snapshot({"id": NSG, "tags": tags})) is phi
    assert PhiScope().is_phi(Snapshot({"id": NSG}, {}, {"tags": tags})) is phi


_CLAIMS = {
    "name": "Jane Example",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "jane@contoso.example",
    "ipaddr": "203.0.113.7",
}


def _with_claims() -> dict[str, object]:
    return _event(NSG, claims=_CLAIMS, httpRequest={"clientIpAddress": "203.0.113.7"})


def test_a_validation_header_without_a_validation_event_keeps_no_caller_identity() -> None:
    """Was: the poison record of the header mismatch held the whole body, claims included."""
    delivery = parse_delivery(
        json.dumps([_with_claims()]).encode(), {"aeg-event-type": "SubscriptionValidation"}
    )
    (poison,) = [p for p in delivery.poison if p.index is None]
    assert poison.error.startswith("headers.aeg-event-type")
    assert "e1" in poison.raw and "data.claims" in poison.raw
    for secret in ("Jane", "jane@contoso.example", "203.0.113.7"):
        assert secret not in poison.raw


@pytest.mark.parametrize("cut", [-1, -40])
def test_a_body_that_is_not_json_keeps_no_caller_identity(cut: int) -> None:
    """Was: a truncated body was kept verbatim, claims and client IP included."""
    text = json.dumps([_with_claims()])[:cut]
    for body in (text, text.encode(), text.encode() + b"\xff"):
        (poison,) = parse_delivery(body).poison
        assert poison.index is None and poison.error.startswith("body:")
        assert NSG in poison.raw and "caller identity" in poison.raw
        for secret in ("Jane", "jane@contoso.example", "203.0.113.7"):
            assert secret not in poison.raw
