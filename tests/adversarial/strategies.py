"""Hypothesis strategies for what an attacker (or a broken sender) can put in front of phiguard:
event deliveries in both schemas, resource ids, tags and resource documents.

Everything starts from real shapes and mutates them: the published Event Grid / CloudEvents
examples in ``../shared/reference/eventgrid`` (read-only, beside the checkout) and the demo
estate's ARM documents (``sim.estate.demo_estate``). Sizes are bounded so one example stays
cheap; "huge" means up to a few hundred kilobytes and "deep" up to a couple of thousand levels.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from shared.kernel.resource_id import parse, resource_type_of
from sim.estate import demo_estate

Json = Any
Path_ = tuple[str | int, ...]

REFERENCE_EVENTS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "eventgrid"

# --------------------------------------------------------------------------------------------
# The demo estate: real ids and documents to start from


@lru_cache(maxsize=1)
def estate_documents() -> tuple[dict[str, Any], ...]:
    return tuple(demo_estate().documents)


@lru_cache(maxsize=1)
def estate_subscriptions() -> tuple[str, ...]:
    return tuple(
        str(s.get("subscriptionId") or str(s.get("id", "")).rsplit("/", 1)[-1])
        for s in demo_estate().subscriptions
    )


def documents_of(*types: str) -> list[dict[str, Any]]:
    wanted = {t.lower() for t in types}
    return [d for d in estate_documents() if resource_type_of(d) in wanted]


@lru_cache(maxsize=1)
def estate_ids() -> tuple[str, ...]:
    return tuple(str(d["id"]) for d in estate_documents())


# The checked types the brief names, plus the rest of the catalog's types the estate holds.
CHECKED_TYPES = (
    "microsoft.storage/storageaccounts",
    "microsoft.network/networksecuritygroups",
    "microsoft.keyvault/vaults",
    "microsoft.sql/servers",
    "microsoft.sql/servers/databases",
    "microsoft.web/sites",
    "microsoft.network/virtualnetworks",
    "microsoft.network/privateendpoints",
    "microsoft.operationalinsights/workspaces",
    "microsoft.network/frontdoorwebapplicationfirewallpolicies",
    "microsoft.network/applicationgatewaywebapplicationfirewallpolicies",
    "microsoft.network/applicationgateways",
    "microsoft.compute/disks",
    "microsoft.compute/virtualmachines",
    "microsoft.resources/subscriptions",
    "microsoft.authorization/roledefinitions",
    "microsoft.cdn/profiles/customdomains",
    "microsoft.documentdb/databaseaccounts",
    "microsoft.containerservice/managedclusters",
    "microsoft.healthcareapis/workspaces/fhirservices",
)

# --------------------------------------------------------------------------------------------
# Hostile text

MARKUP = (
    "[bold red]x[/]",
    "[/]",
    "[link=https://evil.example]click[/link]",
    "[red]PASS[/red]",
    ":warning:",
    "{0}",
    "%s%n",
)
ESCAPES = (
    "\x1b[31mred\x1b[0m",
    "\x1b[2J\x1b[H",
    "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "\x1b]0;window title\x07",
    "\x9b2J",
    "\x9d0;osc\x9c",
    "line\rover",
    "back\bspace",
    "nul\x00byte",
    "del\x7f",
    "tab\there",
    "new\nline",
)
UNICODE = (
    "\u202eevil\u202c",
    "\u2066iso\u2069",
    "\u200b",
    "\u200d",
    "\u200e\u200f",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\x85",
    "\u00a0",
    "\u3000",
    "ｐｈｉ",
    "İ",
    "ß",
    "ﬁ",
    "e\u0301",
    "名前",
    "🩺",
    "\U0010ffff",
    "\ud800",
    "\udfff",
    "\udbff\udfff",
)
PATHY = (
    "..",
    ".",
    " .. ",
    "/../",
    "/./",
    "%2e%2e",
    "%2E%2e",
    "%2F",
    "%00",
    "?api-version=2015-01-01",
    "?",
    "#",
    "#frag",
    "\\..\\",
    "//",
    "/",
    "",
    " ",
    "\t",
    ";",
    "&",
    "=",
    "'",
    '"',
    "<script>",
    "{subscription-id}",
)
WORDS = ("phi", "PHI", "ePHI", "true", "TRUE", "hipaa", "data-classification", "x", "0", "-1")

ATOMS: tuple[str, ...] = MARKUP + ESCAPES + UNICODE + PATHY + WORDS

any_char = st.characters(exclude_categories=())  # surrogates and controls included
atoms = st.sampled_from(ATOMS)
small_text = st.text(any_char, max_size=24)
huge_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(("a", "\u202e", "[", "/..", "é", "\x1b[0m", "%2e")),
    st.integers(min_value=1_000, max_value=120_000),
)


@st.composite
def _joined(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(atoms, small_text), min_size=1, max_size=4))
    return "".join(parts)


hostile_text: st.SearchStrategy[str] = st.one_of(atoms, small_text, _joined(), huge_text)
"""Any string: markup, escapes, bidi, surrogates, path tricks, huge."""

modest_text: st.SearchStrategy[str] = st.one_of(atoms, small_text, _joined())
"""Like ``hostile_text`` without the huge ones."""

# --------------------------------------------------------------------------------------------
# Hostile JSON values

_sendable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from((0, -1, 2**63, 2**64 + 1, 10**30)),
    st.floats(allow_nan=False, allow_infinity=False),
    modest_text,
)
_scalars = st.one_of(
    _sendable_scalars,
    # More than 4,300 digits: repr(), str() and json.dumps() of it raise ValueError.
    st.builds(lambda n: 10**n, st.integers(4_300, 4_400)),
)


def _json_of(scalars: st.SearchStrategy[Json]) -> st.SearchStrategy[Json]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(modest_text, children, max_size=4),
        ),
        max_leaves=12,
    )


json_values: st.SearchStrategy[Json] = _json_of(_scalars)
"""Any JSON value (nothing NaN: JSON has none), integers of more than 4,300 digits included."""

sendable_json: st.SearchStrategy[Json] = _json_of(_sendable_scalars)
"""Any JSON value Python's encoder can write."""


def deep(depth: int, kind: str, leaf: Json = "x") -> Json:
    """A value nested ``depth`` levels (``kind``: "list" or "dict"), built without recursion."""
    value: Json = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


deep_values: st.SearchStrategy[Json] = st.builds(
    deep, st.integers(min_value=50, max_value=1_500), st.sampled_from(("list", "dict"))
)
wide_values: st.SearchStrategy[Json] = st.builds(
    lambda n, item: [item] * n,
    st.integers(min_value=500, max_value=5_000),
    st.one_of(st.just({}), st.just("x"), st.just({"name": "r", "properties": None})),
)

hostile_values: st.SearchStrategy[Json] = st.one_of(
    json_values,
    json_values,
    json_values,
    hostile_text,
    deep_values,
    wide_values,
)
"""A value to put anywhere: wrong types, nulls, huge, deep, unicode, markup."""

sendable_values: st.SearchStrategy[Json] = st.one_of(
    sendable_json,
    sendable_json,
    sendable_json,
    hostile_text,
    st.builds(deep, st.integers(min_value=20, max_value=300), st.sampled_from(("list", "dict"))),
    wide_values,
)
"""Like ``hostile_values``, no deeper than a JSON encoder goes (what travels through HTTP)."""

# --------------------------------------------------------------------------------------------
# Generic JSON mutation


def paths(value: Json, limit_depth: int = 8) -> list[Path_]:
    """Every path into ``value`` (the root is ``()``), to a bounded depth, iteratively."""
    out: list[Path_] = [()]
    stack: list[tuple[Path_, Json]] = [((), value)]
    while stack:
        here, node = stack.pop()
        if len(here) >= limit_depth:
            continue
        items: Sequence[tuple[str | int, Json]]
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))[:50]
        else:
            continue
        for key, child in items:
            out.append((*here, key))
            stack.append(((*here, key), child))
    return out


def set_at(value: Json, path: Path_, new: Json) -> Json:
    """``value`` with ``path`` replaced by ``new`` (a deep copy along the path only)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        out[head] = set_at(value.get(head), rest, new)
        return out
    if value is None and isinstance(head, str):
        return {head: set_at(None, rest, new)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        seq = list(value)
        seq[head] = set_at(value[head], rest, new)
        return seq
    return value


def delete_at(value: Json, path: Path_) -> Json:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if not rest:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != head}
        if isinstance(value, list) and isinstance(head, int) and head < len(value):
            return value[:head] + value[head + 1 :]
        return value
    if isinstance(value, dict) and head in value:
        return {**value, head: delete_at(value[head], rest)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        return [*value[:head], delete_at(value[head], rest), *value[head + 1 :]]
    return value


def get_at(value: Json, path: Path_) -> Json:
    for key in path:
        if isinstance(value, dict):
            if key not in value:
                return None
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return None
    return value


@st.composite
def mutated_json(
    draw: st.DrawFn,
    base: Json,
    *,
    keep: frozenset[str] = frozenset(),
    max_mutations: int = 4,
    values: st.SearchStrategy[Json] = hostile_values,
) -> Json:
    """``base`` with 0..max_mutations random paths replaced, deleted or stuffed; top-level keys
    in ``keep`` are left alone (a document's ``id``, so the sim stores it where it was)."""
    value = base  # never changed in place: set_at / delete_at copy along the path
    for _ in range(draw(st.integers(min_value=0, max_value=max_mutations))):
        candidates = [p for p in paths(value) if not (p and p[0] in keep)]
        if not candidates:
            break
        where = draw(st.sampled_from(candidates))
        if keep and not where:
            continue
        op = draw(st.sampled_from(("set", "set", "set", "delete", "add_key")))
        if op == "set":
            value = set_at(value, where, draw(values))
        elif op == "delete" and where:
            value = delete_at(value, where)
        elif op == "add_key":
            target = get_at(value, where)
            if isinstance(target, dict):
                key = draw(st.one_of(modest_text, st.sampled_from(("properties", "tags", "id"))))
                if not (not where and key in keep):
                    value = set_at(value, (*where, key), draw(values))
    return value


# --------------------------------------------------------------------------------------------
# Resource ids

OTHER_SUBSCRIPTION = "0b1e4f22-9d7a-4c35-8a4e-6f2d1c9e7a10"  # in no topic of the estate


@st.composite
def mutated_ids(draw: st.DrawFn, base: str | None = None) -> str:
    """A real id, then mutated: dot segments (plain, padded, percent-encoded), query and
    fragment, empty and trailing segments, whitespace, case, another subscription, hostile names,
    child and extension suffixes, truncation."""
    rid = base if base is not None else draw(st.sampled_from(estate_ids()))
    segments = rid.split("/")
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        op = draw(
            st.sampled_from(
                (
                    "insert",
                    "replace",
                    "subscription",
                    "suffix",
                    "truncate",
                    "case",
                    "pad",
                    "tail",
                    "slashes",
                )
            )
        )
        at = draw(st.integers(min_value=0, max_value=max(0, len(segments) - 1)))
        if op == "insert":
            segments.insert(at, draw(st.sampled_from((*PATHY, "..", ".", " . "))))
        elif op == "replace" and len(segments) > 1:
            segments[max(1, at)] = draw(modest_text)
        elif op == "subscription" and len(segments) > 2:
            segments[2] = draw(
                st.sampled_from(
                    (
                        OTHER_SUBSCRIPTION,
                        *estate_subscriptions(),
                        "{subscription-id}",
                        "",
                        " ",
                        "..",
                    )
                )
            )
        elif op == "suffix":
            segments += draw(
                st.sampled_from(
                    (
                        ["securityRules", "OpenRdp"],
                        ["config", "web"],
                        ["blobServices", "default"],
                        ["providers", "Microsoft.Insights", "diagnosticSettings", "d"],
                        ["providers", "Microsoft.Authorization", "roleAssignments", "r"],
                        ["providers", "Microsoft.Authorization", "policyAssignments", "p"],
                        ["privateEndpointConnections", "pe"],
                        ["..", ".."],
                        [".."],
                        ["providers"],
                        [""],
                    )
                )
            )
        elif op == "truncate":
            segments = segments[: max(1, at)]
        elif op == "case":
            segments = [s.upper() if draw(st.booleans()) else s.lower() for s in segments]
        elif op == "pad" and len(segments) > 1:
            i = max(1, at)
            segments[i] = draw(st.sampled_from((" ", "\t", "\u00a0", "\u3000", "\x85"))) + (
                segments[i] + draw(st.sampled_from((" ", "", "\u2028")))
            )
        elif op == "tail":
            segments.append(
                draw(st.sampled_from(("", "?api-version=2020-01-01", "#x", "%2e%2e", "..")))
            )
        elif op == "slashes":
            segments.insert(at, "")
    return "/".join(segments)


resource_ids: st.SearchStrategy[str] = st.one_of(
    mutated_ids(),
    st.sampled_from(estate_ids()),
    modest_text,
    st.builds(lambda n: "/subscriptions/s" + "/x" * n, st.integers(0, 3_000)),
    st.builds(
        lambda n: "/subscriptions/s/resourceGroups/r/providers/A.B" + "/t/n" * n,
        st.integers(1, 2_000),
    ),
)
"""Real ids, mutated ids, hostile strings and very long ids."""

# --------------------------------------------------------------------------------------------
# Events

EG_TYPES = (
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.Resources.ResourceDeleteSuccess",
    "Microsoft.Resources.ResourceActionSuccess",
    "Microsoft.Resources.ResourceWriteFailure",
    "Microsoft.Resources.ResourceDeleteCancel",
    "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated",
    "Microsoft.ResourceNotifications.Resources.Deleted",
    "Microsoft.EventGrid.SubscriptionValidationEvent",
    "microsoft.resources.resourcewritesuccess",
    "MICROSOFT.RESOURCES.RESOURCEDELETESUCCESS",
    "Microsoft.Storage.BlobCreated",
    "Contoso.Unknown.Event",
)
event_types = st.one_of(st.sampled_from(EG_TYPES), modest_text)

OPERATIONS = (
    "Microsoft.Network/networkSecurityGroups/securityRules/write",
    "Microsoft.Storage/storageAccounts/listKeys/action",
    "Microsoft.Storage/storageAccounts/regenerateKey/action",
    "Microsoft.Authorization/policies/auditIfNotExists/action",
    "Microsoft.Web/sites/config/write",
    "Microsoft.KeyVault/vaults/delete",
)


@lru_cache(maxsize=1)
def reference_events() -> tuple[Json, ...]:
    """Each published example as it is (an array or a single object); empty when absent."""
    if not REFERENCE_EVENTS.is_dir():
        return ()
    out: list[Json] = []
    for path in sorted(REFERENCE_EVENTS.glob("*.json")):
        if "ValidationResponse" in path.name:
            continue
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return tuple(out)


def reference_event_objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in reference_events():
        out += [e for e in (doc if isinstance(doc, list) else [doc]) if isinstance(e, dict)]
    return out


def _scope(rid: str) -> str:
    try:
        parsed = parse(rid)
    except ValueError:
        return "/subscriptions/unknown"
    if parsed.subscription is None:
        return "/subscriptions/unknown"
    return f"/subscriptions/{parsed.subscription}"


# Who made a change, as the claims of every synthetic event name them: a poison record must
# keep none of it (personal data with no expiry).
CALLER_NAME = "Jane Adversary-Example"
CALLER_UPN = "jane.adversary@contoso.example"
CALLER_IP = "198.51.100.77"
CALLER_MARKERS = (CALLER_NAME, CALLER_UPN, CALLER_IP)


def build_event(
    schema: str,
    event_type: str,
    rid: str,
    *,
    event_id: str,
    time: str = "2026-01-05T10:00:00.1234567Z",
    topic: str | None = None,
    operation: str | None = None,
) -> dict[str, Any]:
    """A well-formed event of either schema for ``rid`` (the shapes of the published examples)."""
    topic = topic if topic is not None else _scope(rid)
    sub = topic.split("/")[2] if topic.count("/") >= 2 else ""
    if "resourcenotifications" in event_type.lower():
        data: dict[str, Any] = {
            "resourceInfo": {"id": rid, "name": rid.rsplit("/", 1)[-1], "properties": {}},
            "operationalInfo": {"resourceEventTime": time},
            "apiVersion": "2024-05-01",
        }
    elif "validation" in event_type.lower():
        data = {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    else:
        data = {
            "resourceUri": rid,
            "operationName": operation or "Microsoft.Network/networkSecurityGroups/write",
            "status": "Succeeded",
            "subscriptionId": sub,
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "correlationId": "c0ffee00-0000-4000-8000-000000000001",
            "claims": {
                "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "name": CALLER_NAME,
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": CALLER_UPN,
                "ipaddr": CALLER_IP,
            },
            "httpRequest": {"clientIpAddress": CALLER_IP, "method": "PUT"},
            "authorization": {"action": operation or "Microsoft.Network/x/write", "scope": rid},
        }
    if schema == "cloudevents":
        return {
            "specversion": "1.0",
            "id": event_id,
            "source": topic,
            "subject": rid,
            "type": event_type,
            "time": time,
            "data": data,
        }
    return {
        "id": event_id,
        "topic": topic,
        "subject": rid,
        "eventType": event_type,
        "eventTime": time,
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }


TIMES = (
    "2026-01-05T10:00:00.1234567Z",
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00+14:00",
    "2026-01-05 10:00:00",
    "2026-01-05T10:00:00",
    "9999-12-31T23:59:59.9999999-14:00",
    "0001-01-01T00:00:00+14:00",
    "2026-02-30T00:00:00Z",
    "not a time",
    "",
)


@st.composite
def synthetic_events(draw: st.DrawFn, ids: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    rid = draw(ids if ids is not None else st.one_of(st.sampled_from(estate_ids()), mutated_ids()))
    schema = draw(st.sampled_from(("eventgrid", "cloudevents")))
    topic = draw(
        st.one_of(
            st.just(None),
            st.sampled_from(
                (
                    *(f"/subscriptions/{s}" for s in estate_subscriptions()),
                    f"/subscriptions/{OTHER_SUBSCRIPTION}",
                    "/subscriptions/{subscription-id}",
                    f"/subscriptions/{estate_subscriptions()[0]}/resourceGroups/rg-chs-phi-prod",
                    "",
                )
            ),
        )
    )
    return build_event(
        schema,
        draw(event_types),
        rid,
        event_id=draw(st.one_of(st.uuids().map(str), st.sampled_from(("e1", "e2", "")))),
        time=draw(st.sampled_from(TIMES)),
        topic=topic,
        operation=draw(st.sampled_from(OPERATIONS)),
    )


def _reference_strategy() -> st.SearchStrategy[dict[str, Any]]:
    objects = reference_event_objects()
    if not objects:
        return synthetic_events()
    return st.sampled_from(objects)


ID_FIELDS: tuple[Path_, ...] = (
    ("subject",),
    ("data", "resourceUri"),
    ("data", "resourceInfo", "id"),
    ("topic",),
    ("source",),
    ("data", "subscriptionId"),
)


@st.composite
def events(draw: st.DrawFn) -> Json:
    """One event object (or, now and then, something that is not one): a published example or
    a synthetic one for an estate id, then mutated in its id fields and anywhere else."""
    event: Json = draw(st.one_of(_reference_strategy(), synthetic_events()))
    event = copy.deepcopy(event)
    # Schema swaps and specversion games.
    if isinstance(event, dict) and draw(st.booleans()):
        op = draw(st.sampled_from(("specVersion", "badversion", "both", "drop_type")))
        if op == "specVersion" and "specversion" in event:
            event["specVersion"] = event.pop("specversion")
        elif op == "badversion":
            event["specversion"] = draw(st.sampled_from(("0.3", "1.0 ", 1.0, None, "")))
        elif op == "both":
            event["eventType"] = event.get("type", event.get("eventType"))
            event["specversion"] = "1.0"
            event.setdefault("type", event["eventType"])
        elif op == "drop_type":
            event.pop("type", None)
            event.pop("eventType", None)
    # The id fields: mutated ids, ids of other subscriptions, hostile text.
    for field in draw(st.lists(st.sampled_from(ID_FIELDS), max_size=3, unique=True)):
        value = draw(st.one_of(mutated_ids(), resource_ids, hostile_values))
        if isinstance(event, dict):
            event = set_at(event, field, value) if get_at(event, field[:-1]) is not None else event
    event = draw(mutated_json(event, max_mutations=2))
    if (
        isinstance(event, dict)
        and draw(st.integers(0, 9)) == 0
        and isinstance(event.get("data"), dict)
    ):
        # data_base64 instead of data (CloudEvents), valid or not.
        text = _dumps(event["data"])
        if text is not None:
            event = {k: v for k, v in event.items() if k != "data"}
            encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
            event["data_base64"] = draw(st.sampled_from((encoded, encoded[:-2], "!!", "e30=")))
    return event


@st.composite
def event_batches(draw: st.DrawFn, max_size: int = 8) -> Json:
    """A JSON array of events (duplicates and validation events included) or a single event."""
    batch = draw(st.lists(events(), max_size=max_size))
    if batch and draw(st.integers(0, 4)) == 0:
        batch.append(batch[0])  # a redelivered duplicate in the same batch (shared: never changed)
    if draw(st.integers(0, 6)) == 0:
        batch.append(
            build_event(
                "eventgrid",
                "Microsoft.EventGrid.SubscriptionValidationEvent",
                "",
                event_id="v",
                topic=f"/subscriptions/{estate_subscriptions()[0]}",
            )
        )
    if len(batch) == 1 and draw(st.booleans()):
        return batch[0]
    return batch


def _dumps(value: Json) -> str | None:
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return None


@st.composite
def bodies(draw: st.DrawFn) -> bytes | str | list[Any] | dict[str, Any]:
    """What reaches ``parse_delivery``: parsed JSON, text or bytes, well-formed or not."""
    kind = draw(
        st.sampled_from(
            (
                "bytes",
                "bytes",
                "bytes",
                "str",
                "parsed",
                "bom",
                "invalid_utf8",
                "truncated",
                "deep_text",
                "huge_number",
                "scalar",
                "garbage",
                "surrogate_escape",
            )
        )
    )
    if kind == "invalid_utf8":
        return draw(st.binary(max_size=64)) + b"\xff\xfe\xc3("
    if kind == "deep_text":
        depth = draw(st.integers(500, 200_000))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
        return (opener * depth + "1" + closer * depth).encode()
    if kind == "huge_number":
        digits = draw(st.integers(4_000, 50_000))
        return f'[{{"id": "e", "eventType": "x", "n": {"9" * digits}}}]'.encode()
    if kind == "scalar":
        return draw(st.sampled_from(("null", "1", '"x"', "true", "1e400", "-0", '"\\ud800"')))
    if kind == "garbage":
        return draw(st.one_of(st.binary(max_size=200), st.text(any_char, max_size=200)))
    if kind == "surrogate_escape":
        return (
            b'[{"id":"e\\ud800","eventType":"Microsoft.Resources.ResourceWriteSuccess",'
            b'"eventTime":"2026-01-05T10:00:00Z","subject":"/subscriptions/s\\udc00/x",'
            b'"data":{"resourceUri":"/subscriptions/s/resourceGroups/r\\ud83d/providers/'
            b'Microsoft.Network/networkSecurityGroups/n"}}]'
        )
    batch = draw(event_batches())
    if kind == "parsed" and isinstance(batch, list | dict):
        return batch
    text = _dumps(batch) or "[]"
    if kind == "str":
        return text
    if kind == "bom":
        return ("\ufeff" + text).encode("utf-8")
    if kind == "truncated":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))].encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


HEADER_SETS: tuple[dict[str, str], ...] = (
    {},
    {"aeg-event-type": "Notification", "content-type": "application/json"},
    {"Aeg-Event-Type": "SubscriptionValidation"},
    {"content-type": "application/cloudevents+json; charset=utf-8"},
    {"content-type": "application/cloudevents-batch+json"},
    {
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-type": "Microsoft.Resources.ResourceWriteSuccess",
        "ce-source": "/subscriptions/98d6f765-1897-5f92-b6a5-1a1b7fccf13a",
        "ce-time": "2026-01-05T10:00:00Z",
        "ce-subject": "/subscriptions/98d6f765-1897-5f92-b6a5-1a1b7fccf13a/resourceGroups/"
        "rg-chs-phi-prod/providers/Microsoft.Network/networkSecurityGroups/nsg-chs-phi-data",
    },
    {"ce-specversion": "0.3", "ce-type": "[bold]x[/]"},
)
headers = st.sampled_from(HEADER_SETS)

# --------------------------------------------------------------------------------------------
# Tags

PHI_NAMES = (
    "data-classification",
    "Data-Classification",
    "DATA-CLASSIFICATION",
    "data_classification",
    " data-classification",
    "hipaa",
    "HIPAA",
    "Hipaa",
    "hipaa\u200b",
)
PHI_VALUES = (
    "phi",
    "PHI",
    "ePHI",
    "EPHI",
    " phi ",
    "phi\u200b",
    "ｐｈｉ",
    "PHİ",
    "true",
    "True",
    "TRUE",
    " true\t",
    "yes",
    "1",
    "false",
    "",
)
EXEMPT_NAMES = ("phiguard-exempt", "PhiGuard-Exempt", "PHIGUARD-EXEMPT", "phiguard-exempt ")
TARGETS = (
    "network_nsg_restrict_internet_inbound",
    "network_nsg_management_ports_internet_closed",
    "storage_account_secure_transport",
    "monitoring_diagnostic_settings_audit",
    "NETWORK_NSG_RESTRICT_INTERNET_INBOUND",
    "*",
    "all",
    "",
)
DATES = (
    "2026-12-31",
    "9999-12-31",
    "0001-01-01",
    "0000-00-00",
    "2026-02-30",
    "2026-13-01",
    "+2026-01-01",
    "20270101",
    "2026-1-1",
    "٢٠٢٦-٠١-٠١",
    "２０２６-０１-０１",
    "2026-01-01T00:00:00Z",
    "2026-01-01 ",
    "2026\u200b-01-01",
    "-2026-01-01",
    "99999-12-31",
)


@st.composite
def exempt_tag_values(draw: st.DrawFn, values: st.SearchStrategy[Json] | None = None) -> Json:
    """``phiguard-exempt`` values: structured ones with any date, approver and reason, then
    re-encoded, stuffed, duplicated or replaced by anything."""
    targets = draw(st.lists(st.one_of(st.sampled_from(TARGETS), modest_text), max_size=3))
    fields = [
        ("until", draw(st.one_of(st.sampled_from(DATES), st.dates().map(str), modest_text))),
        ("approver", draw(st.one_of(st.just("ciso@example.com"), modest_text))),
        ("reason", draw(st.one_of(st.just("vendor access"), modest_text, huge_text))),
    ]
    fields = draw(st.permutations(fields))
    if draw(st.integers(0, 5)) == 0:
        fields.append(draw(st.sampled_from(fields)))  # a field given twice
    if draw(st.integers(0, 5)) == 0:
        fields = fields[: draw(st.integers(0, len(fields)))]
    sep = draw(st.sampled_from((";", "; ", " ;", ";;", "%3B", "\u037e")))
    value = ",".join(targets) + "".join(f"{sep}{k}={v}" for k, v in fields)
    encoding = draw(st.sampled_from(("plain", "plain", "plain", "upper", "percent", "base64")))
    if encoding == "upper":
        value = value.upper()
    elif encoding == "percent":
        value = value.replace(";", "%3B").replace("=", "%3D")
    elif encoding == "base64":
        value = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()
    return draw(
        st.one_of(st.just(value), st.just(value), values if values is not None else hostile_values)
    )


@st.composite
def tags(draw: st.DrawFn, values: st.SearchStrategy[Json] | None = None) -> Json:
    """A ``tags`` value: an object of PHI, exemption and hostile tags, or not an object at all."""
    values = values if values is not None else hostile_values
    if draw(st.integers(0, 7)) == 0:
        return draw(st.one_of(st.none(), st.lists(values, max_size=3), modest_text, values))
    out: dict[str, Json] = {}
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(("phi", "phi", "exempt", "other")))
        if kind == "phi":
            name = draw(st.one_of(st.sampled_from(PHI_NAMES), modest_text))
            out[name] = draw(st.one_of(st.sampled_from(PHI_VALUES), values))
        elif kind == "exempt":
            out[draw(st.sampled_from(EXEMPT_NAMES))] = draw(exempt_tag_values(values))
        else:
            out[draw(modest_text)] = draw(values)
    return out


# --------------------------------------------------------------------------------------------
# Resource documents


def checked_documents() -> list[dict[str, Any]]:
    return [d for d in estate_documents() if resource_type_of(d) in CHECKED_TYPES]


@st.composite
def resource_documents(
    draw: st.DrawFn,
    keep_id: bool = False,
    types: Sequence[str] = CHECKED_TYPES,
    values: st.SearchStrategy[Json] = hostile_values,
    keep: frozenset[str] = frozenset(),
) -> Json:
    """A demo-estate document of a checked type (of ``types``), mutated anywhere (its tags
    too); top-level fields in ``keep`` stay as they were, and with ``keep_id`` the ``id``
    (the sim then stores it in place of the real one)."""
    doc = copy.deepcopy(draw(st.sampled_from(documents_of(*types))))
    if draw(st.booleans()):
        doc["tags"] = draw(tags(values))
    keep = keep | ({"id"} if keep_id else set())
    doc = draw(mutated_json(doc, keep=keep, max_mutations=5, values=values))
    if not keep and draw(st.integers(0, 9)) == 0:
        doc = draw(
            st.sampled_from(
                (
                    {**doc, "type": None} if isinstance(doc, dict) else doc,
                    {k: v for k, v in doc.items() if k != "type"} if isinstance(doc, dict) else doc,
                )
            )
        )
    return doc


def related_documents() -> st.SearchStrategy[dict[str, Json]]:
    """Related documents (diagnostic settings, web config, TDE, ...) as hostile values."""
    from shared.kernel.related import RELATED

    return st.dictionaries(st.sampled_from(sorted(RELATED)), hostile_values, max_size=4)


NSG_DOCUMENTS = documents_of("microsoft.network/networksecuritygroups")
OTHER_NSG_RULE = next(
    f"{d['id']}/securityRules/AllowRdpInbound"
    for d in NSG_DOCUMENTS
    if d["name"] == "nsg-chs-shop-dev"
)
STORAGE_ACCOUNT = documents_of("microsoft.storage/storageaccounts")[0]["id"]


STEERS = ("other_nsg", "dot_segments", "storage", "query", "name")


@st.composite
def steered_nsgs(draw: st.DrawFn, steers: Sequence[str] = STEERS) -> dict[str, Any]:
    """An NSG whose own rule opens RDP to the Internet, with that embedded rule's ``id`` (or,
    with no id, its ``name``) naming something else: ARM sets both, but the fix writes where
    the document says."""
    nsg = draw(st.sampled_from(NSG_DOCUMENTS))
    rule: dict[str, Any] = {
        "name": "OpenRdp",
        "id": f"{nsg['id']}/securityRules/OpenRdp",
        "properties": {
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "3389",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 150,
            "direction": "Inbound",
        },
    }
    how = draw(st.sampled_from(tuple(steers)))
    if how == "other_nsg":
        rule["id"] = OTHER_NSG_RULE
    elif how == "dot_segments":
        rule["id"] = f"{nsg['id']}/securityRules/OpenRdp/../../../../../../../..{OTHER_NSG_RULE}"
    elif how == "storage":
        rule["id"] = STORAGE_ACCOUNT
    elif how == "query":
        rule["id"] = f"{OTHER_NSG_RULE}?api-version=2024-05-01#"
    else:
        del rule["id"]
        rule["name"] = "x/../../../../../../../.." + OTHER_NSG_RULE
    rules = [r for r in nsg["properties"].get("securityRules", []) if r["name"] != rule["name"]]
    return {**nsg, "properties": {**nsg["properties"], "securityRules": [*rules, rule]}}


# --------------------------------------------------------------------------------------------
# Helpers for tests


def timed(func: Callable[[], Any]) -> tuple[Any, float]:
    import time

    started = time.perf_counter()
    result = func()
    return result, time.perf_counter() - started
