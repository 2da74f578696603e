"""End to end, against the simulated tenant and Azurite, with the NSG fix in enforce mode and
allow-listed (the configuration that writes to the tenant): hostile batches through the webhook
handler, hostile tag changes, hostile resource documents and the sweep.

For every example: no exception escapes the handler; the HTTP status is 200, 400, 413 or 503;
every resource the delivery names is recorded in the store (state, marker or processed event) or
its event is in a poison record; and ARM writes (the sim's counters, reset before each example,
and the documents the sim holds, compared before and after) touch only NSG security rules, only
of NSGs the delivery named, only PHI-scoped NSGs or rules that open a management port to the
Internet, and only the rule's ``access``.

One world per module (per xdist worker): the sim is reset to the demo estate before each example
and the counters with it; the store keeps growing (a fresh table prefix per module).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from shared.context import AppContext, reset_app_context
from shared.events import Delivery, parse_delivery
from shared.kernel.resource_id import ResourceIdError, normalize, parent, parse
from shared.pipeline import RedeliverError
from sim.azurite import AzuriteEndpoints
from sim.estate import open_rdp_rule
from tests.adversarial import strategies as s
from tests.adversarial.profile import E2E, SWEEP
from tests.e2e.world import WEBHOOK, World, running_world

pytestmark = pytest.mark.slow

NSG_FIX = "network_nsg_restrict_internet_inbound"
NSG = "microsoft.network/networksecuritygroups"
RULE = "microsoft.network/networksecuritygroups/securityrules"
RG = "microsoft.resources/resourcegroups"
WRITE_METHODS = ("PUT", "PATCH", "DELETE", "POST")
STATUSES = {200, 400, 413, 503}
INTERNET = {"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0"}
MANAGEMENT = ((22, 22), (3389, 3389), (5985, 5986))


@pytest.fixture(scope="module")
def tenant(azurite: AzuriteEndpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The sim (demo estate, events to a file) and the app's settings: the NSG fix in enforce
    mode and allow-listed, as ``tests/e2e/test_trust.py`` ``enforcing``."""
    with running_world(
        azurite,
        tmp_path_factory.mktemp("adversarial"),
        remediation_modes=((NSG_FIX, "enforce"),),
        remediation_allow=(NSG_FIX,),
    ) as built:
        yield built


@contextmanager
def example(tenant: World) -> Iterator[World]:
    """A fresh start for one example: the demo estate again (sim reset, counters zeroed, no
    events queued) and an empty store under a new table prefix, with a new app context (ARM
    reader and its caches, pipeline and its memory, remediator): every failure is new, so every
    fix is tried again, and nothing an earlier example left (stored state, flap and hourly
    counts, cached resource groups) decides this one. About 30 ms."""
    tenant.sim.reset()
    tenant.drain_events()
    tenant.sim.reset_counters()
    ctx = AppContext(tenant.ctx.settings.with_overrides(table_prefix="adv" + uuid.uuid4().hex[:12]))
    ctx.__dict__["engine"] = tenant.ctx.engine  # stateless but for its per-type cache
    reset_app_context(ctx)
    try:
        yield World(tenant.sim, ctx, tenant.events_file)
    finally:
        reset_app_context(tenant.ctx)
        pipeline = ctx.__dict__.get("pipeline")
        pool = getattr(pipeline, "_pool", None)
        if isinstance(pool, ThreadPoolExecutor):
            pool.shutdown(wait=True)


def _docs(world: World) -> dict[str, Any]:
    assert world.sim.server is not None
    arm = world.sim.server.t.arm
    with arm.lock:
        return {key: entry.doc for key, entry in arm.store.docs.items()}


def _tag_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return None


def _phi_tags(tags: Any) -> bool:
    if not isinstance(tags, dict):
        return False
    for name, value in tags.items():
        text = _tag_text(value)
        if text is None:
            continue
        key, text = str(name).lower(), text.strip().lower()
        if (key == "data-classification" and text in ("phi", "ephi")) or (
            key == "hipaa" and text == "true"
        ):
            return True
    return False


def _phi(docs: dict[str, Any], nsg_key: str) -> bool:
    """The documented PHI rule, on the documents as they were before the delivery."""
    nsg = docs.get(nsg_key)
    if isinstance(nsg, dict) and _phi_tags(nsg.get("tags")):
        return True
    parsed = parse(nsg_key)
    if parsed.resource_group_id is None:
        return False
    group = docs.get(normalize(parsed.resource_group_id))
    return isinstance(group, dict) and _phi_tags(group.get("tags"))


def _ports(props: dict[str, Any]) -> list[tuple[int, int]] | None:
    """Destination port ranges; None when they cannot be read (then any write is allowed)."""
    raw: list[Any] = [props.get("destinationPortRange")]
    more = props.get("destinationPortRanges")
    raw += more if isinstance(more, list) else []
    out: list[tuple[int, int]] = []
    for item in raw:
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            return None
        text = item.strip()
        if text == "*":
            out.append((0, 65535))
            continue
        low, _, high = text.partition("-")
        if not (
            low.isascii() and low.isdigit() and (not high or (high.isascii() and high.isdigit()))
        ):
            return None
        out.append((int(low), int(high or low)))
    return out


def _opens_management(rule: Any) -> bool:
    """Whether a rule (as it was) may let the Internet reach 22, 3389 or 5985-5986; lenient: a
    rule this cannot read counts as opening them."""
    if not isinstance(rule, dict) or not isinstance(rule.get("properties"), dict):
        return True
    props = rule["properties"]
    sources = [props.get("sourceAddressPrefix")]
    more = props.get("sourceAddressPrefixes")
    sources += more if isinstance(more, list) else []
    if not any(isinstance(x, str) and x.strip().lower() in INTERNET for x in sources):
        return False
    if str(props.get("access", "")).strip().lower() != "allow":
        return False
    if str(props.get("direction", "")).strip().lower() != "inbound":
        return False
    ports = _ports(props)
    if ports is None:
        return True
    return any(lo <= hi2 and lo2 <= hi for lo, hi in ports for lo2, hi2 in MANAGEMENT)


def _named_nsgs(delivery: Delivery, docs: dict[str, Any]) -> set[str]:
    """The NSGs (keys) a delivery may lead phiguard to write: those it names, and those in the
    resource groups it names (a group's change re-evaluates its resources)."""
    named: set[str] = set()
    groups: set[str] = set()
    for change in delivery.changes:
        key = normalize(change.resource_id)
        try:
            rtype = parse(key).type
        except ResourceIdError:
            continue
        if rtype == NSG:
            named.add(key)
        elif rtype == RG:
            groups.add(key)
    for key in docs:
        try:
            parsed = parse(key)
        except ResourceIdError:
            continue
        group = parsed.resource_group_id
        if parsed.type == NSG and group is not None and normalize(group) in groups:
            named.add(key)
    return named


_VOLATILE = frozenset({"etag", "provisioningState"})


def _content(doc: Any) -> Any:
    """A document without what every write to it or a sibling changes (etags, the provisioning
    state): NSG rules share their parent's etag, so writing one rule re-tags the others."""
    if isinstance(doc, dict):
        return {k: _content(v) for k, v in doc.items() if k not in _VOLATILE}
    if isinstance(doc, list):
        return [_content(v) for v in doc]
    return doc


def _embedded_rules(doc: Any) -> dict[str, Any]:
    """An NSG's own rules as it embeds them, by lowercase name (what ARM serves for the NSG)."""
    props = doc.get("properties") if isinstance(doc, dict) else None
    rules = props.get("securityRules") if isinstance(props, dict) else None
    out: dict[str, Any] = {}
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and isinstance(rule.get("name"), str):
            out[rule["name"].lower()] = rule
    return out


def assert_writes_allowed(
    world: World, before: dict[str, Any], named: set[str] | None, what: str
) -> int:
    """Checks every ARM write since ``before``; the number of write requests.

    The sim's counters say which types were written; the documents it holds say what changed.
    A rule is judged as its NSG embeds it, before and after: writing one rule makes the sim
    refresh every sibling's own document from the NSG (a sibling whose two copies differed, in
    a mutated document, changes without being written)."""
    counters = world.sim.counters()
    writes = 0
    for pair, count in counters["by_method_and_type"].items():
        method, _, rtype = pair.partition(" ")
        if method in WRITE_METHODS and count:
            assert rtype == RULE, f"{what}: {count} {method} of {rtype}"
            writes += count
    after = _docs(world)
    changed = {
        k
        for k in set(before) | set(after)
        if before.get(k) is not after.get(k) and _content(before.get(k)) != _content(after.get(k))
    }
    touched: set[str] = set()
    for key in sorted(changed):
        rtype = parse(key).type
        assert rtype in (NSG, RULE), f"{what}: {key} changed"
        nsg_key = key if rtype == NSG else normalize(str(parent(key)))
        if named is not None:
            assert nsg_key in named, f"{what}: {key} written, its NSG was not in the delivery"
        touched.add(nsg_key)
    for nsg_key in sorted(touched):
        old_rules = _embedded_rules(before.get(nsg_key))
        new_rules = _embedded_rules(after.get(nsg_key))
        assert set(old_rules) == set(new_rules), f"{what}: rules of {nsg_key} added or removed"
        phi = _phi(before, nsg_key)
        for name, old in old_rules.items():
            new = new_rules[name]
            if _content(old) == _content(new):
                continue
            rule = f"{nsg_key}/securityrules/{name}"
            if not phi:
                assert _opens_management(old), f"{what}: non-PHI {rule} written, no mgmt port"
            old_props = dict(_content(old).get("properties") or {})
            new_props = dict(_content(new).get("properties") or {})
            assert new_props.get("access") == "Deny", f"{what}: {rule} written but not denied"
            old_props.pop("access", None)
            new_props.pop("access", None)
            assert old_props == new_props, f"{what}: {rule}: more than access changed"
    return writes


def _accounted(world: World, rid: str, event_id: str) -> bool:
    store = world.ctx.store
    if store.marker(rid) is not None:
        return True
    if store.current(resource_id=rid, include_inactive=True):
        return True
    return store.event_processed(event_id)


def assert_accounted(
    world: World, delivery: Delivery, status: int, poison_before: int, what: str
) -> None:
    """Every change of the delivery has a recorded state (or its event is marked processed);
    every poison event has a poison record."""
    if status in (413, 503):
        return
    for change in delivery.latest_per_resource():
        assert _accounted(world, change.resource_id, change.event_id), (
            f"{what}: nothing recorded for {change.resource_id!r} ({change.event_type})"
        )
    poison_after = len(world.ctx.store.poison())
    assert poison_after - poison_before >= len(delivery.poison), what


# --------------------------------------------------------------------------------------------
# Posting


def post(
    world: World, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None]:
    request = func.HttpRequest(
        "POST",
        "https://phiguard.example/api/events",
        headers=headers if headers is not None else {"aeg-event-type": "Notification"},
        body=body,
    )
    response = WEBHOOK(request)  # an exception escaping fails the example
    assert response.status_code in STATUSES, (response.status_code, response.get_body()[:500])
    try:
        answer = json.loads(response.get_body())
    except ValueError:
        answer = None
    return response.status_code, answer


def expected(world: World, body: bytes, headers: dict[str, str]) -> Delivery:
    """What the handler parses (the same pure function, the same settings)."""
    return parse_delivery(
        body,
        headers,
        supported_types=world.ctx.engine.supported_types(),
        subscriptions=world.ctx.settings.subscriptions,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _fresh_ids(events: Any, nonce: str) -> Any:
    """Event ids made unique to this example (the same id twice within it stays the same):
    across examples, an id seen before would be a duplicate and not be read again."""
    items = events if isinstance(events, list) else [events]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            item["id"] = f"{item['id']}~{nonce}"
    return events


def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except (ValueError, RecursionError):
        return b"[]"


def _body_of(events: list[Any], single: bool) -> bytes:
    return _dumps(events[0] if single and len(events) == 1 else events)


def check_post(world: World, body: bytes, headers: dict[str, str], what: str) -> int:
    before, poison_before = _docs(world), len(world.ctx.store.poison())
    world.sim.reset_counters()
    delivery = expected(world, body, headers)
    status, answer = post(world, body, headers)
    if status == 503:
        pytest.fail(f"{what}: 503 with no fault injected: {answer}")
    assert_accounted(world, delivery, status, poison_before, what)
    writes = assert_writes_allowed(world, before, _named_nsgs(delivery, before), what)
    for record in world.ctx.store.poison():
        for marker in s.CALLER_MARKERS:
            assert marker not in record.raw + record.error, f"{what}: poison keeps {marker}"
    if status == 200:
        # Event Grid redelivers (at least once): the same delivery again is answered, not
        # refused with 503 for pending work, and writes nothing more than it may.
        again, answer = post(world, body, headers)
        assert again == 200, f"{what}: redelivered, answered {again}: {answer}"
    # Seen with --hypothesis-show-statistics: what the examples exercised.
    event(f"{what}: HTTP {status}")
    event(
        f"{what}: changes {min(len(delivery.changes), 3)}{'+' if len(delivery.changes) > 3 else ''}"
    )
    event(f"{what}: poison {'yes' if delivery.poison else 'no'}")
    event(f"{what}: ARM writes {'yes' if writes else 'no'}")
    return status


# --------------------------------------------------------------------------------------------
# Strategies for the tenant's own resources


def _estate(kind: str) -> list[str]:
    return [str(d["id"]) for d in s.documents_of(kind)]


REAL_TARGETS = (
    _estate(NSG)
    + _estate("microsoft.storage/storageaccounts")
    + _estate("microsoft.keyvault/vaults")
    + _estate("microsoft.web/sites")
    + _estate("microsoft.sql/servers")
    + _estate(RG)
    + [f"{n}/securityRules/AllowRdpInbound" for n in _estate(NSG)]
)


@st.composite
def live_events(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed event about a real resource of the tenant, now: it is read and judged."""
    rid = draw(st.sampled_from(REAL_TARGETS))
    return s.build_event(
        draw(st.sampled_from(("eventgrid", "cloudevents"))),
        draw(
            st.sampled_from(
                (
                    "Microsoft.Resources.ResourceWriteSuccess",
                    "Microsoft.Resources.ResourceWriteSuccess",
                    "Microsoft.Resources.ResourceActionSuccess",
                    "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated",
                )
            )
        ),
        rid,
        event_id=str(uuid.uuid4()),
        time=_now(),
        operation="Microsoft.Network/networkSecurityGroups/write",
    )


@st.composite
def hostile_batches(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    kind = draw(st.sampled_from(("mixed", "mixed", "mixed", "mixed", "body", "over_limit")))
    nonce = uuid.uuid4().hex[:8]
    if kind == "over_limit":
        # More events than Event Grid ever batches (refused whole, 413), or more bytes.
        if draw(st.booleans()):
            event = _live("eventgrid", REAL_TARGETS[0])
            return _dumps([dict(event, id=f"o{i}~{nonce}") for i in range(5_001)]), {}
        return b"[" + b" " * (4 * 1024 * 1024) + b"]", {}
    if kind == "body":
        body = draw(s.bodies())
        if isinstance(body, list | dict):
            body = _dumps(_fresh_ids(body, nonce))
        elif isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        return body, draw(s.headers)
    events: list[Any] = draw(
        st.lists(st.one_of(live_events(), live_events(), s.events()), min_size=1, max_size=6)
    )
    if draw(st.integers(0, 5)) == 0:
        validation = s.build_event(
            "eventgrid",
            "Microsoft.EventGrid.SubscriptionValidationEvent",
            "",
            event_id="validation",
            topic=f"/subscriptions/{s.estate_subscriptions()[0]}",
        )
        events.insert(draw(st.integers(0, len(events))), validation)
    events = _fresh_ids(events, nonce)
    headers = draw(
        st.sampled_from(
            (
                {"aeg-event-type": "Notification"},
                {"content-type": "application/cloudevents-batch+json"},
                {},
            )
        )
    )
    return _body_of(events, draw(st.booleans())), headers


# --------------------------------------------------------------------------------------------
# The properties


@E2E
@given(batch=hostile_batches())
def test_hostile_batches_through_the_webhook(
    tenant: World, batch: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = batch
    with example(tenant) as world:
        check_post(world, body, headers, "batch")


def _trigger_event(event: Any) -> func.EventGridEvent:
    """What the Functions host hands the Event Grid trigger for ``event`` (Event Grid schema):
    the host parses eventTime; anything else reaches phiguard as the sender wrote it."""
    fields = event if isinstance(event, dict) else {}
    raw_time = fields.get("eventTime", fields.get("time"))
    try:
        moment = datetime.fromisoformat(raw_time) if isinstance(raw_time, str) else None
    except ValueError:
        moment = None
    return func.EventGridEvent(
        id=fields.get("id"),  # type: ignore[arg-type]
        data=fields.get("data"),  # type: ignore[arg-type]
        topic=fields.get("topic", fields.get("source")),  # type: ignore[arg-type]
        subject=fields.get("subject"),  # type: ignore[arg-type]
        event_type=fields.get("eventType", fields.get("type")),  # type: ignore[arg-type]
        event_time=moment,
        data_version=fields.get("dataVersion"),  # type: ignore[arg-type]
    )


@E2E
@given(hostile=st.one_of(live_events(), s.events()))
def test_hostile_events_through_the_event_grid_trigger(tenant: World, hostile: Any) -> None:
    """The ``on_resource_change`` trigger's path (one event, no HTTP status): nothing escapes
    but RedeliverError, which nothing here may cause; the same accounting and writes."""
    from shared.api import handle_function_event
    from shared.events import change_from_function_event

    with example(tenant) as world:
        trigger = _trigger_event(_fresh_ids(hostile, uuid.uuid4().hex[:8]))
        before = _docs(world)
        delivery = change_from_function_event(
            trigger,
            supported_types=world.ctx.engine.supported_types(),
            subscriptions=world.ctx.settings.subscriptions,
        )
        summary = handle_function_event(trigger)
        assert isinstance(summary, dict) and summary.get("poison", 0) == len(delivery.poison)
        assert_accounted(world, delivery, 200, 0, "trigger")
        writes = assert_writes_allowed(world, before, _named_nsgs(delivery, before), "trigger")
        event(f"trigger: changes {len(delivery.changes)}, writes {'yes' if writes else 'no'}")


ROOT_TAGGABLE = _estate(NSG) + _estate(RG) + _estate("microsoft.storage/storageaccounts")


@E2E
@given(
    target=st.sampled_from(ROOT_TAGGABLE),
    tags=s.tags(s.sendable_values),
    nsg=st.sampled_from(_estate(NSG)),
    port=st.sampled_from(("3389", "22", "443", "*", "5985-5986", "1433")),
    schema=st.sampled_from(("eventgrid", "cloudevents")),
)
def test_hostile_tags_then_an_opened_port(
    tenant: World, target: str, tags: Any, nsg: str, port: str, schema: str
) -> None:
    """A tag change (PHI tags in odd casings, exemption tags of any date and encoding, tags that
    are not an object), its events posted, then a rule opening ``port`` to the Internet on an
    NSG, its events posted: PHI scope and exemptions decide what the fix writes, never more."""
    with example(tenant) as world:
        try:
            answer = world.sim.change_as_user("PATCH", target, {"tags": _bounded(tags)})
        except RuntimeError:  # the sim refused the body (a lone surrogate): ARM would too
            answer = {"status": 400}
        events = world.drain_events()
        if answer["status"] < 300:
            assert events, answer
        if schema == "cloudevents":
            events = [_as_cloudevent(e) for e in events]
        check_post(world, _dumps(events), {"aeg-event-type": "Notification"}, "tags")

        rule = open_rdp_rule(150)
        rule["properties"]["destinationPortRange"] = port
        world.sim.change_as_user("PUT", f"{nsg}/securityRules/Adversarial", rule)
        events = world.drain_events()
        assert events
        before = _docs(world)
        check_post(world, _dumps(events), {"aeg-event-type": "Notification"}, "rule")
        _exemption_respected(world, before, normalize(nsg))


def _as_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event.get("id"),
        "source": event.get("topic"),
        "subject": event.get("subject"),
        "type": event.get("eventType"),
        "time": event.get("eventTime"),
        "data": event.get("data"),
    }


def _bounded(value: Any) -> Any:
    """What the admin API can carry as JSON (no deeper than the JSON encoder goes)."""
    try:
        json.dumps(value)
    except (ValueError, RecursionError):
        return {"x": "value that JSON cannot carry"}
    return value


def _exemption_respected(world: World, before: dict[str, Any], nsg_key: str) -> None:
    """A valid, honoured exemption of the fix (or its checks) on the NSG means nothing of it
    was written."""
    from shared.remediation import EXEMPT_TAG, exemption_refusal, parse_exempt_tag

    doc = before.get(nsg_key)
    tags = doc.get("tags") if isinstance(doc, dict) else None
    if not isinstance(tags, dict):
        return
    value = next((v for k, v in tags.items() if str(k).lower() == EXEMPT_TAG), None)
    if value is None:
        return
    try:
        exemptions = parse_exempt_tag(value, nsg_key)
    except ValueError:
        return
    settings = world.ctx.settings
    fix_targets = {
        NSG_FIX,
        "network_nsg_management_ports_internet_closed",
        "network_nsg_phi_internet_inbound_denied",
    }
    now = datetime.now(UTC)
    honoured = [
        e
        for e in exemptions
        if e.target in fix_targets
        and exemption_refusal(e, now, settings.exemption_max_days, settings.exemption_approvers)
        is None
        and e.active(now)
    ]
    if honoured:
        after = _docs(world)
        written = [
            k for k in after if k.startswith(nsg_key + "/") and after[k] is not before.get(k)
        ]
        assert not written, f"exempt ({honoured[0]}), yet written: {written}"


TENANT_TYPES = tuple(t for t in s.CHECKED_TYPES if t != "microsoft.resources/subscriptions")


@st.composite
def mutated_tenant_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs = draw(
        st.lists(
            # "type" kept: ARM always serves it, and the sim answers 500 to a write under a
            # document without one (phiguard then rightly asks for a redelivery).
            s.resource_documents(
                keep=frozenset({"id", "type"}), types=TENANT_TYPES, values=s.sendable_values
            ),
            min_size=1,
            max_size=3,
        )
    )
    return [_servable(d) for d in docs]


def _servable(doc: Any) -> Any:
    """The document as the sim can serve it: it answers GETs with UTF-8 JSON, which has no
    form for a lone surrogate (it would answer 500, which phiguard rightly retries), so those
    become "?". Everything else stays as hostile as it was."""
    text = json.dumps(doc, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
    return json.loads(text)


@E2E
@given(documents=mutated_tenant_documents(), schema=st.sampled_from(("eventgrid", "cloudevents")))
def test_hostile_documents_read_through_events(
    tenant: World, documents: list[dict[str, Any]], schema: str
) -> None:
    """The tenant answers reads with mutated documents (wrong types, nulls, huge, deep, unicode,
    markup, hostile tags): each is judged, recorded or isolated as its own ERROR, never more
    than its allowed fix written."""
    with example(tenant) as world:
        world.sim.load(documents)
        events = [_live(schema, str(d["id"])) for d in documents]
        check_post(world, _dumps(events), {"aeg-event-type": "Notification"}, "documents")


def _live(schema: str, rid: str) -> dict[str, Any]:
    return s.build_event(
        schema,
        "Microsoft.Resources.ResourceWriteSuccess",
        rid,
        event_id=str(uuid.uuid4()),
        time=_now(),
    )


@SWEEP
@given(documents=mutated_tenant_documents())
def test_hostile_documents_through_the_sweep(
    tenant: World, documents: list[dict[str, Any]]
) -> None:
    """The daily sweep over a tenant holding mutated documents: nothing escapes it (not even
    the documented RedeliverError: nothing is transient here), a resource it could not process
    has its ERROR row, and it writes no more than the events may."""
    with example(tenant) as world:
        world.sim.load(documents)
        before = _docs(world)
        errors = 0
        named = {str(parse(str(d["id"])).subscription).lower() for d in documents}
        for subscription in [x for x in world.sim.subscriptions if x.lower() in named]:
            try:
                result = world.ctx.pipeline.sweep(subscription)
            except RedeliverError as exc:
                pytest.fail(f"sweep of {subscription}: {exc}")
            assert not result.transient, result.transient
            errors += len(result.errors)
            for rid in result.errors:
                rows = world.ctx.store.current(resource_id=rid, include_inactive=True)
                assert any(r.status == "ERROR" for r in rows), rid
        writes = assert_writes_allowed(world, before, None, "sweep")
        event(f"sweep: ARM writes {'yes' if writes else 'no'}")
        event(f"sweep: ERROR rows {'yes' if errors else 'no'}")


@E2E
@given(nsg=s.steered_nsgs())
def test_a_steered_rule_id_cannot_redirect_the_nsg_fix(tenant: World, nsg: dict[str, Any]) -> None:
    """The tenant answers the read of an NSG with a body whose Internet-open RDP rule carries
    the id of another NSG's rule (or of a storage account, or a dot-segment path): the fix
    writes the NSG it judged, or nothing. Regression: found here, the PUT went where the body
    said (another subscription's NSG; the audit storage account replaced by a rule body);
    fixed in 2c51b33."""
    with example(tenant) as world:
        world.sim.load([nsg])
        check_post(world, _dumps([_live("eventgrid", str(nsg["id"]))]), {}, "steered")


@pytest.mark.parametrize("where", ["tags", "default_rule_name"])
def test_a_deeply_nested_value_does_not_stall_the_nsg_fix(tenant: World, where: str) -> None:
    """Found by the deep run: the PHI NSG with RDP open to the Internet, plus a value 700
    levels deep in a place the fix never touches. Observed: HTTP 200 with the NSG as an
    "error" (phiguard_processing ERROR, RecursionError while following up its failures), no
    remediation record at all, the rule left open, every redelivery within the lease answered
    503, and the sweep listing it among its errors."""
    nsg = next(d for d in s.NSG_DOCUMENTS if d["name"] == "nsg-chs-phi-app")
    path: tuple[str | int, ...] = (
        ("tags", "x") if where == "tags" else ("properties", "defaultSecurityRules", 0, "name")
    )
    doc = s.set_at(nsg, path, s.deep(700, "list"))
    with example(tenant) as world:
        world.sim.load([doc])
        body = _dumps([_live("eventgrid", str(nsg["id"]))])
        status, answer = post(world, body, {})
        assert status == 200 and answer is not None
        assert "error" not in answer["resources"], answer
        assert world.ctx.remediator.records(days=1, resource_id=str(nsg["id"]))
        again, _ = post(world, body, {})
        assert again == 200
