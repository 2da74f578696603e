"""Pure layer, events: whatever a sender posts, ``parse_delivery`` answers (never raises), puts
every event in exactly one bucket, and hands on only canonical ids whose subscription is the one
the change is filed under."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.engine import Engine
from shared.events import (
    MAX_RAW_CHARS,
    Delivery,
    change_from_function_event,
    parse_delivery,
)
from shared.kernel.resource_id import canonical, parse
from tests.adversarial import strategies as s
from tests.adversarial.profile import PURE

SUPPORTED = frozenset(Engine().supported_types())
PROTECTED_ITEM = (
    "microsoft.recoveryservices/vaults/backupfabrics/protectioncontainers/protecteditems"
)
SUBSCRIPTIONS = s.estate_subscriptions()
# A moment, generously: the slowest legitimate input (a 4 MB body of 5,000 events) parses in
# well under a second; this is far below what a hang or a quadratic blow-up would take.
MOMENT = 2.0


def check_delivery(
    delivery: Delivery,
    *,
    subscriptions: Collection[str] | None = None,
    supported: Collection[str] | None = None,
) -> None:
    """The invariants of any Delivery (see ``shared.events.Delivery``)."""
    indexed = [p for p in delivery.poison if p.index is not None]
    unindexed = [p for p in delivery.poison if p.index is None]
    body_level = [p for p in unindexed if p.error.startswith("body:")]
    header_level = [p for p in unindexed if p.error.startswith("headers.")]
    assert len(body_level) + len(header_level) == len(unindexed), unindexed
    assert len(body_level) <= 1 and len(header_level) <= 1
    validation = 1 if delivery.validation_code is not None else 0

    if delivery.over_limit:
        assert not (delivery.changes or delivery.ignored or delivery.poison)
        assert validation == 0
        return
    if body_level:
        # The whole body could not be read: one poison record stands for all of it.
        assert delivery.total == 1
        assert not (delivery.changes or delivery.ignored or indexed or header_level)
        assert validation == 0
    bucketed = len(delivery.changes) + sum(delivery.ignored.values()) + len(indexed)
    assert delivery.total == bucketed + len(body_level) + validation, (
        delivery.total,
        len(delivery.changes),
        dict(delivery.ignored),
        len(indexed),
        len(body_level),
        validation,
    )
    positions = [p.index for p in indexed]
    assert len(set(positions)) == len(positions), "an event poisoned twice"
    assert all(0 <= (i or 0) < delivery.total for i in positions)
    assert all(n > 0 for n in delivery.ignored.values())

    for poison in delivery.poison:
        assert isinstance(poison.error, str) and poison.error
        assert len(poison.error) <= 500
        assert isinstance(poison.raw, str) and len(poison.raw) <= MAX_RAW_CHARS
        # (Lone surrogates may stay in ``raw``: the store keeps them, tested end to end.)
        # Nothing of who made the change (claims, HTTP request) is kept.
        for marker in s.CALLER_MARKERS:
            assert marker not in poison.raw and marker not in poison.error, (marker, poison)
        assert poison.event_id is None or isinstance(poison.event_id, str)

    if delivery.validation_code is not None:
        assert isinstance(delivery.validation_code, str) and delivery.validation_code.strip()
        json.dumps(delivery.validation_response)

    seen: Counter[str] = Counter()
    for change in delivery.changes:
        for rid in (change.resource_id, change.source_id):
            assert canonical(rid) == rid, rid
            segments = rid.split("/")[1:]
            assert "." not in segments and ".." not in segments
            rid.encode("utf-8")  # sent in a URL and stored as a table key
        parsed = parse(change.resource_id)
        source = parse(change.source_id)
        if parsed.subscription is not None:
            assert change.subscription_id.lower() == parsed.subscription.lower(), change
        if source.subscription is not None:
            assert change.subscription_id.lower() == source.subscription.lower(), change
        if subscriptions:
            assert change.subscription_id.lower() in {s.lower() for s in subscriptions}
        # Never a read of another resource: what is re-evaluated is the resource the event
        # names or one it belongs to (a segment prefix), or the VM a protected item names.
        if source.type == PROTECTED_ITEM and parsed.type == "microsoft.compute/virtualmachines":
            assert parsed.subscription == source.subscription, change
        else:
            affected_segments = change.resource_id.lower().split("/")
            source_segments = change.source_id.lower().split("/")
            assert source_segments[: len(affected_segments)] == affected_segments, change
        if supported is not None:
            assert (
                parsed.type in supported
                or parsed.type
                in ("microsoft.resources/subscriptions", "microsoft.resources/resourcegroups")
                or parsed.type == "microsoft.network/networkwatchers/flowlogs"
            ), parsed.type
        assert change.event_time.tzinfo is not None
        assert change.event_time.utcoffset() == UTC.utcoffset(None)
        assert change.event_id.strip()
        seen[change.event_id] += 1
    assert all(n == 1 for n in seen.values()), "the same event id became two changes"
    # One change per resource, whatever the order.
    latest = delivery.latest_per_resource()
    assert len({c.resource_id.lower() for c in latest}) == len(latest)


def _parse(body: Any, headers: Mapping[str, str] | None, scoped: bool, filtered: bool) -> Delivery:
    return parse_delivery(
        body,
        headers,
        supported_types=SUPPORTED if scoped else None,
        subscriptions=SUBSCRIPTIONS if filtered else None,
    )


@PURE
@given(body=s.bodies(), headers=s.headers, scoped=st.booleans(), filtered=st.booleans())
@example(body=b"[" + b"1" * 5_000 + b"]", headers={}, scoped=True, filtered=False)
@example(body='[{"id": "\\ud800"}]', headers={}, scoped=True, filtered=False)
@example(
    body=b"[]", headers={"aeg-event-type": "SubscriptionValidation"}, scoped=True, filtered=False
)
def test_parse_delivery_never_raises_and_buckets_every_event(
    body: Any, headers: dict[str, str], scoped: bool, filtered: bool
) -> None:
    delivery, seconds = s.timed(lambda: _parse(body, headers, scoped, filtered))
    assert seconds < MOMENT, f"{seconds:.2f} s"
    check_delivery(
        delivery,
        subscriptions=SUBSCRIPTIONS if filtered else None,
        supported=SUPPORTED if scoped else None,
    )


@PURE
@given(batch=s.event_batches(), scoped=st.booleans(), filtered=st.booleans())
@example(batch=None, scoped=True, filtered=False)  # a JSON null, parsed: poison, not TypeError
@example(batch=7, scoped=False, filtered=True)
def test_parsed_batches_bucket_every_event(batch: Any, scoped: bool, filtered: bool) -> None:
    """The same through the parsed-JSON entry (no JSON text in between: lone surrogates, deep
    values and huge integers reach the parser as Python objects)."""
    delivery, seconds = s.timed(lambda: _parse(batch, None, scoped, filtered))
    assert seconds < MOMENT
    check_delivery(
        delivery,
        subscriptions=SUBSCRIPTIONS if filtered else None,
        supported=SUPPORTED if scoped else None,
    )
    events = batch if isinstance(batch, list) else [batch]
    assert delivery.total == len(events)


@PURE
@given(event=s.synthetic_events(ids=s.mutated_ids()), schema_as_text=st.booleans())
def test_a_mutated_id_is_canonical_or_poison(event: dict[str, Any], schema_as_text: bool) -> None:
    """Every id trick (dot segments, encodings, query, fragment, empty segments, other
    subscriptions) ends as a canonical id of the subscription it is filed under, or as poison."""
    body: Any = json.dumps([event]).encode("utf-8", "surrogatepass") if schema_as_text else [event]
    delivery = _parse(body, None, True, False)
    check_delivery(delivery, supported=SUPPORTED)


class _FunctionEvent:
    """What the Event Grid trigger hands over, built from a hostile event dict; any attribute
    may be missing or raise."""

    def __init__(self, event: Any, broken: str | None) -> None:
        self._event = event if isinstance(event, dict) else {}
        self._broken = broken

    def __getattr__(self, name: str) -> Any:
        if name == self._broken:
            raise RuntimeError(f"{name} is broken")
        mapping = {
            "id": "id",
            "topic": "topic",
            "subject": "subject",
            "event_type": "eventType",
            "event_time": "eventTime",
            "data_version": "dataVersion",
        }
        if name in mapping:
            return self._event.get(mapping[name])
        raise AttributeError(name)

    def get_json(self) -> Any:
        if self._broken == "get_json":
            raise ValueError("not JSON")
        return self._event.get("data")


@PURE
@given(
    event=s.events(),
    broken=st.sampled_from((None, None, "id", "get_json", "event_time", "subject")),
    filtered=st.booleans(),
)
def test_a_function_trigger_event_never_raises(
    event: Any, broken: str | None, filtered: bool
) -> None:
    delivery = change_from_function_event(
        _FunctionEvent(event, broken),
        supported_types=SUPPORTED,
        subscriptions=SUBSCRIPTIONS if filtered else None,
    )
    check_delivery(delivery, subscriptions=SUBSCRIPTIONS if filtered else None, supported=SUPPORTED)
    assert delivery.total == 1


@pytest.mark.parametrize(("count", "padding"), [(5_000, "x" * 600), (5_001, ""), (4_999, "\u202e")])
def test_a_batch_at_the_limit_is_parsed_quickly_or_refused_whole(count: int, padding: str) -> None:
    event = s.build_event(
        "eventgrid",
        "Microsoft.Resources.ResourceWriteSuccess",
        s.estate_ids()[10],
        event_id="e",
    )
    event["data"]["padding"] = padding
    batch = [dict(event, id=f"e{i}") for i in range(count)]
    body = json.dumps(batch).encode()
    delivery, seconds = s.timed(lambda: _parse(body, None, True, True))
    assert seconds < MOMENT * 2, f"{seconds:.2f} s for {count} events"
    check_delivery(delivery, subscriptions=SUBSCRIPTIONS, supported=SUPPORTED)
    assert delivery.over_limit == (count > 5_000)


@pytest.mark.parametrize(
    "reference",
    range(len(s.reference_events())),
    ids=lambda i: f"reference{i}",
)
def test_every_published_example_is_bucketed(reference: int) -> None:
    """The unmutated published shapes, as the mutation base: each parses, nothing raises."""
    document = s.reference_events()[reference]
    for body in (document, json.dumps(document).encode()):
        check_delivery(_parse(body, None, False, False))


_VAULT = (
    "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1/"
    "backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;vm/"
    "protectedItems/"
)
_NAME_PARTS = st.one_of(
    st.sampled_from(("rg", "vm1", "..", ".", " .. ", "", " ", "%2e%2e", "a.b", "providers")),
    s.modest_text,
)


@PURE
@given(
    group=_NAME_PARTS,
    vm=_NAME_PARTS,
    schema=st.sampled_from(("eventgrid", "cloudevents")),
)
@example(group="..", vm="..", schema="eventgrid")
@example(group="rg", vm=".", schema="cloudevents")
def test_a_protected_item_names_its_vm_or_is_poison(group: str, vm: str, schema: str) -> None:
    """The VM id composed from ``VM;iaasvmcontainerv2;{rg};{vm}`` is canonical (no dot segment,
    nothing an HTTP client would resolve elsewhere) or the event is poison."""
    sub = SUBSCRIPTIONS[0]
    rid = _VAULT.format(sub=sub) + f"VM;iaasvmcontainerv2;{group};{vm}"
    event = s.build_event(schema, "Microsoft.Resources.ResourceWriteSuccess", rid, event_id="p1")
    delivery = _parse([event], None, True, False)
    check_delivery(delivery, supported=SUPPORTED)


@pytest.mark.parametrize("rid", s.estate_ids()[:40])
def test_a_resource_may_be_named_providers(rid: str) -> None:
    """``providers`` is a keyword only where a type may stand (ARM reads ids by position): the
    same id with its last name ``providers`` parses to the same type and maps alike."""
    parsed = parse(rid)
    if parsed.type in ("microsoft.resources/subscriptions", "microsoft.resources/resourcegroups"):
        return
    renamed = rid.rsplit("/", 1)[0] + "/providers"
    assert parse(renamed).type == parsed.type
    event = s.build_event(
        "eventgrid", "Microsoft.Resources.ResourceWriteSuccess", renamed, event_id="x"
    )
    delivery = _parse([event], None, True, False)
    check_delivery(delivery, supported=SUPPORTED)
    assert not delivery.poison, delivery.poison
