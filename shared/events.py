"""Event Grid deliveries → normalized :class:`~shared.kernel.changes.ResourceChange` records.

This is the first stage of the flow of one event (see DESIGN.md): it decodes what Event Grid
delivers, decides which events matter, and names the resource whose checks must be re-run.
It does no I/O: the pipeline reads the resource through ARM afterwards (ARM events carry no
resource properties).

Accepted shapes, with the schema detected per event (a batch may mix them):

* Event Grid schema: a JSON array (webhook delivery) or a single object; an event has
  ``eventType``/``subject``/``eventTime``/``id``/``data`` (``dataVersion``/``topic`` tolerated
  missing).
* CloudEvents 1.0, structured mode: a single event (``application/cloudevents+json``) or a batch
  (``application/cloudevents-batch+json``, a JSON array); an event has ``specversion`` (the
  published examples also spell it ``specVersion``; both are accepted), ``type``, ``source``,
  ``id``, ``time``, ``subject``, ``data`` (or ``data_base64`` holding JSON).
* CloudEvents 1.0, binary mode: attributes in ``ce-*`` headers, the body is the ``data``.
* One event object from the Azure Functions Event Grid trigger
  (:func:`change_from_function_event`).

What becomes a change, and what is ignored (``Delivery.ignored``, reason → count):

==============================================================  ===============================
``Microsoft.Resources.ResourceWriteSuccess``                    ``WRITE``
``Microsoft.Resources.ResourceDeleteSuccess``                   ``DELETE``
``Microsoft.Resources.ResourceActionSuccess``                   ``ACTION``, unless read-only
``Microsoft.ResourceNotifications.Resources.CreatedOrUpdated``  ``WRITE`` (id from
                                                                ``data.resourceInfo.id``)
``Microsoft.ResourceNotifications.Resources.Deleted``           ``DELETE``
``Microsoft.Resources.Resource{Write,Delete,Action}Failure``     ignored ``"failure"``
``Microsoft.Resources.Resource{Write,Delete,Action}Cancel``      ignored ``"cancel"``
``Microsoft.EventGrid.SubscriptionValidationEvent``             ``Delivery.validation_code``
any other event type                                            ignored ``"not_a_resource_event"``
==============================================================  ===============================

Further reasons: ``"read_only_action"`` (see :func:`is_read_only_action`),
``"policy_evaluation"`` (``Microsoft.Authorization/policies/*/action``: Azure Policy recording
an audit result, not a change), ``"unsupported_type"`` (no check applies to the *affected*
resource's type), ``"outside_subscriptions"`` (the event's subscription is not one of
``subscriptions``, when that is given), ``"duplicate_event"`` (the same event id twice in one delivery; Event Grid is
at-least-once), ``"extra_validation_event"`` (a second validation event in one delivery).

Decisions worth knowing:

* ``regenerateKey`` (and every other POST action that is not read-only) is an ``ACTION``: it
  changes state (a storage account's ``keyCreationTime``), and ``changes.ChangeKind`` names it
  as the example of a state-changing action. Re-reading costs one GET; dropping it could hide a
  key rotation. Only actions that cannot change the resource are ignored.
* A change to a child or extension resource is reported against the resource whose checks it
  affects (:func:`affected_resource`); ``source_id`` keeps the id the event named. Deleting a
  child (an NSG rule, a diagnostic setting, a role assignment) does not delete its parent, so
  such a ``DELETE`` becomes a ``WRITE`` of the parent; ``event_type``/``operation_name`` keep
  what really happened.
* Flow logs (``networkWatchers/{nw}/flowLogs/{fl}``) protect a target that only their body
  names (``properties.targetResourceId``), so the change keeps the flow log's own id: the
  pipeline reads the flow log to find the target (:data:`LOOKUP_TYPES`). For a deleted flow log
  the body is gone; the pipeline must use its stored state or the daily sweep.
* Subscriptions and resource groups are always accepted whatever ``supported_types`` says
  (:data:`SCOPE_TYPES`): role assignments at those scopes feed the access review, policy
  assignments and activity-log alerts are subscription-level evidence, and a resource group's
  tags decide the PHI scope of every resource in it (the pipeline fans out).
* ``Microsoft.ResourceNotifications.*`` events embed the resource properties; they are still
  normalized into the same ``ResourceChange`` (no caller claims), and the pipeline reads the
  resource through ARM as for any other event.
* Ids are made canonical (:func:`shared.kernel.resource_id.canonical`) before anything else sees
  them: whitespace around segments (the published ResourceNotifications examples carry
  ``{subscription-id} /resourceGroups``) and empty segments are dropped; a dot segment or a
  character no ARM id holds (``?``, ``#``, ``%``, backslash, controls) makes the event poison, since an HTTP
  client would read another resource than the one whose PHI scope is judged. Casing is kept
  (``resourcegroups`` and ``resourceGroups`` both occur); identity goes through
  :func:`shared.kernel.resource_id.normalize`.
* The subscription in the id, the topic's (``source`` for CloudEvents) subscription and
  ``data.subscriptionId`` must agree, and a resource-group topic must contain the resource;
  otherwise the event is poison.
* A time without a UTC offset is read as UTC. Fractional seconds beyond microseconds (Event
  Grid writes 7 digits) are truncated.

Bounds: at most :data:`MAX_EVENTS` events per delivery (Event Grid's own batch maximum; the
excess is one poison record, so a sender can split and resend), poison ``raw`` text at most
:data:`MAX_RAW_CHARS` characters, values quoted in errors at most 120 characters. Parsing is
linear in the number of events; id mapping is memoized. Error texts are at most 500 characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shared.kernel.changes import ChangeKind, ResourceChange
from shared.kernel.resource_id import ResourceIdError, canonical, normalize, parent, parse

__all__ = [
    "LOOKUP_TYPES",
    "MAX_EVENTS",
    "MAX_RAW_CHARS",
    "SCOPE_TYPES",
    "Delivery",
    "PoisonEvent",
    "affected_resource",
    "change_from_function_event",
    "clean_resource_id",
    "is_read_only_action",
    "parse_delivery",
    "parse_event_time",
    "supported",
]

MAX_EVENTS = 5_000
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Event Grid sends at most 1 MB per event and batches of at most 1 MB (preferred size up to
1,024 KB, with an oversized event sent alone), so a bigger delivery is not from Event Grid."""
MAX_RAW_CHARS = 16_384
_MAX_QUOTED = 120
_MAX_ERROR = 500

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"

_KINDS: dict[str, ChangeKind] = {
    "microsoft.resources.resourcewritesuccess": ChangeKind.WRITE,
    "microsoft.resources.resourcedeletesuccess": ChangeKind.DELETE,
    "microsoft.resources.resourceactionsuccess": ChangeKind.ACTION,
    "microsoft.resourcenotifications.resources.createdorupdated": ChangeKind.WRITE,
    "microsoft.resourcenotifications.resources.deleted": ChangeKind.DELETE,
}
_NOTIFICATION_PREFIX = "microsoft.resourcenotifications."
_IGNORED_TYPES: dict[str, str] = {
    **{
        f"microsoft.resources.resource{op}failure": "failure"
        for op in ("write", "delete", "action")
    },
    **{f"microsoft.resources.resource{op}cancel": "cancel" for op in ("write", "delete", "action")},
}

SCOPE_TYPES = frozenset({"microsoft.resources/subscriptions", "microsoft.resources/resourcegroups"})
"""Affected types accepted whatever the supported set says (see the module docstring)."""

LOOKUP_TYPES: Mapping[str, frozenset[str]] = {
    "microsoft.network/networkwatchers/flowlogs": frozenset(
        {
            "microsoft.network/networksecuritygroups",
            "microsoft.network/virtualnetworks",
            "microsoft.network/virtualnetworks/subnets",
            "microsoft.network/networkinterfaces",
        }
    ),
}
"""Types whose affected resource is named only in their body → the types it can be.

A change of such a type keeps its own id; it is accepted when one of the possible target types
is supported, and the pipeline reads it to find the target.
"""

# Child types whose checks live on the parent (one level up). Lowercase ARM types.
_CHILD_OF_PARENT = frozenset(
    {
        "microsoft.network/networksecuritygroups/securityrules",
        # The VNet's GET body embeds its subnets (NSG association is checked there).
        "microsoft.network/virtualnetworks/subnets",
        "microsoft.web/sites/config",
        "microsoft.web/sites/slots/config",
        "microsoft.storage/storageaccounts/blobservices",
        "microsoft.sql/servers/databases/transparentdataencryption",
        "microsoft.sql/servers/encryptionprotector",
        "microsoft.sql/servers/auditingsettings",
        "microsoft.sql/servers/extendedauditingsettings",
        "microsoft.sql/servers/administrators",
        "microsoft.sql/servers/azureadonlyauthentications",
        "microsoft.operationalinsights/workspaces/tables",
        # accessPolicies/{add,replace,remove} rewrite the vault's properties.accessPolicies.
        "microsoft.keyvault/vaults/accesspolicies",
    }
)
_SUBSCRIPTION_EVIDENCE = frozenset(
    {"microsoft.authorization/policyassignments", "microsoft.insights/activitylogalerts"}
)

# Action names (the segment before "/action", lowercase) that read and never change a resource.
_READ_ONLY_PREFIXES = ("list", "get", "read", "check", "query", "validate", "export")
_READ_ONLY_ACTIONS = frozenset(
    {
        "publishxml",  # Microsoft.Web/sites/publishxml/action: downloads a publish profile
        "whatif",  # Microsoft.Resources/deployments/whatIf/action
        "ipflowverify",  # Network Watcher diagnostics
        "nexthop",
        "securitygroupview",
        "topology",
        "connectivitycheck",
        "azurereachabilityreport",
        "availableproviderslist",
    }
)

_NEEDS_CLEANING = re.compile(r"\s|//")
_TIME_SHAPE = re.compile(r"\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")


@dataclass(frozen=True)
class PoisonEvent:
    """An event (or a whole body) that could not be read; kept for the dead-letter record.

    ``error`` names what was wrong and where (``event[3].data.resourceUri: missing``); ``raw`` is
    the JSON of that one event (the body text when the body is not JSON), at most
    :data:`MAX_RAW_CHARS` characters.
    """

    index: int | None  # position in the delivery; None when it concerns the whole body
    error: str
    raw: str
    event_id: str | None = None


@dataclass
class Delivery:
    """The outcome of one delivery: every event ends in exactly one of the buckets.

    ``total`` = ``len(changes) + sum(ignored.values()) + len(events in poison) + validation``.
    """

    validation_code: str | None = None
    validation_url: str | None = None
    changes: list[ResourceChange] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    poison: list[PoisonEvent] = field(default_factory=list)
    total: int = 0
    over_limit: bool = False  # more than max_events: nothing was parsed (see parse_delivery)

    @property
    def validation_response(self) -> dict[str, str] | None:
        """The body the webhook must answer the Event Grid handshake with, if one was asked."""
        if self.validation_code is None:
            return None
        return {"validationResponse": self.validation_code}

    def latest_per_resource(self) -> list[ResourceChange]:
        """One change per affected resource: the latest by event time (a later position wins ties).

        A single create can emit two write events and Event Grid does not order deliveries; the
        pipeline needs one re-read per resource. Order: first appearance in the delivery.
        """
        chosen: dict[str, ResourceChange] = {}
        for change in self.changes:
            key = normalize(change.resource_id)
            held = chosen.get(key)
            if held is None or change.event_time >= held.event_time:
                chosen[key] = change
        return list(chosen.values())


class _Bad(Exception):
    """One event is malformed: ``path`` is relative to the event (``.data.resourceUri``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# --------------------------------------------------------------------------------------------
# Resource ids: cleaning, child → parent, supported types


def clean_resource_id(resource_id: str) -> str:
    """The id with whitespace around segments and empty segments removed; casing is kept.

    Lenient (for ids phiguard itself composed); event ids go through
    :func:`shared.kernel.resource_id.canonical`, which also refuses dot segments and stray characters.
    """
    if _NEEDS_CLEANING.search(resource_id) is None:
        stripped = resource_id.rstrip("/")
        return stripped if stripped.startswith("/") else "/" + stripped
    parts = [p.strip() for p in resource_id.split("/")]
    return "/" + "/".join(p for p in parts if p)


@lru_cache(maxsize=8192)
def affected_resource(resource_id: str) -> str:
    """The id of the resource whose checks a change of ``resource_id`` affects (casing kept).

    * NSG security rule → the NSG; subnet → the virtual network; ``sites/x/config/*`` → the site;
      ``blobServices/default`` → the storage account; ``databases/x/transparentDataEncryption/*``
      → the database; SQL server ``encryptionProtector``, ``auditingSettings``,
      ``extendedAuditingSettings``, ``administrators``, ``azureADOnlyAuthentications`` → the
      server; ``workspaces/x/tables/y`` → the workspace; ``vaults/x/accessPolicies/*`` → the
      vault; any ``…/privateEndpointConnections/x`` → the resource it belongs to.
    * ``{target}/providers/Microsoft.Insights/diagnosticSettings/x`` → the target, mapped again
      (a blob service's setting → the storage account).
    * ``{scope}/providers/Microsoft.Authorization/roleAssignments/x`` → the scope.
    * Policy assignments and activity-log alerts → their subscription (subscription evidence).
    * Flow logs → the flow log itself: the target is only in its body (:data:`LOOKUP_TYPES`).
    * Anything else → itself.

    Raises :class:`~shared.kernel.resource_id.ResourceIdError` for a string that is not an ARM id.
    """
    rid = clean_resource_id(resource_id)
    parsed = parse(rid)
    rtype = parsed.type
    if rtype in _CHILD_OF_PARENT or rtype.endswith("/privateendpointconnections"):
        up = parent(rid)
        return up if up is not None else rid
    if rtype in _SUBSCRIPTION_EVIDENCE and parsed.subscription is not None:
        parts = [p for p in rid.split("/") if p]
        return "/" + "/".join(parts[:2])
    if rtype in {
        "microsoft.insights/diagnosticsettings",
        "microsoft.authorization/roleassignments",
    }:
        scope = parent(rid)
        if scope is None or scope == "/":
            return rid
        if rtype == "microsoft.authorization/roleassignments":
            return scope
        try:
            return affected_resource(scope)
        except ResourceIdError:
            return scope
    return rid


@lru_cache(maxsize=8192)
def _type_of(resource_id: str) -> str:
    return parse(resource_id).type


def supported(resource_type: str, supported_types: Collection[str] | None = None) -> bool:
    """Whether changes of an affected resource of ``resource_type`` are worth evaluating.

    ``supported_types`` comes from the engine (``Engine().supported_types()``); None accepts all.
    Subscriptions and resource groups are always accepted (:data:`SCOPE_TYPES`); a lookup type
    (a flow log) is accepted when one of its possible targets is supported.
    """
    if supported_types is None:
        return True
    return _supported_in(resource_type.lower(), _lowered(supported_types))


def _lowered(types: Collection[str]) -> frozenset[str]:
    return frozenset(t.lower() for t in types)


def _lowered_or_none(values: Collection[str] | None) -> frozenset[str] | None:
    """None (accept all) for None or an empty collection."""
    return _lowered(values) if values else None


def _supported_in(rtype: str, types: frozenset[str]) -> bool:
    if rtype in types or rtype in SCOPE_TYPES:
        return True
    targets = LOOKUP_TYPES.get(rtype)
    return targets is not None and not targets.isdisjoint(types)


def is_read_only_action(operation_name: str) -> bool:
    """Whether an ARM operation only reads (a ``ResourceActionSuccess`` worth ignoring).

    Read-only: ``…/read``; ``…/{name}/action`` (or a bare trailing ``listKeys``) whose name
    starts with ``list``, ``get``, ``read``, ``check``, ``query``, ``validate`` or ``export``
    (``listKeys``, ``listAccountSas``, ``listServiceSas``, ``listCredentials``,
    ``listConnectionStrings``, ``getKeys``, ``exportTemplate`` …); a few named read-only actions
    (``publishxml``, ``whatIf``, Network Watcher diagnostics). Everything else — including
    ``regenerateKey`` — may change state.
    """
    segments = [s for s in operation_name.strip().lower().split("/") if s]
    if not segments:
        return False
    last = segments[-1]
    if last == "read":
        return True
    if last == "action":
        if len(segments) < 2:
            return False
        last = segments[-2]
    return last.startswith(_READ_ONLY_PREFIXES) or last in _READ_ONLY_ACTIONS


def _is_policy_evaluation(operation_name: str) -> bool:
    segments = operation_name.strip().lower().split("/")
    return (
        len(segments) == 4
        and segments[0] == "microsoft.authorization"
        and segments[1] == "policies"
        and segments[3] == "action"
    )


# --------------------------------------------------------------------------------------------
# Times


def parse_event_time(value: object) -> datetime:
    """An ISO 8601 time → aware UTC; 7-digit fractions (Event Grid) are truncated to 6.

    Raises ``ValueError`` naming the value when it is not a date-time.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _TIME_SHAPE.match(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 date-time: {_quote(value)}") from None
    else:
        raise ValueError(f"not an ISO 8601 date-time: {_quote(value)}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Deliveries


def parse_delivery(
    body: bytes | bytearray | str | list[Any] | dict[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    supported_types: Collection[str] | None = None,
    subscriptions: Collection[str] | None = None,
    max_events: int = MAX_EVENTS,
) -> Delivery:
    """Parses one webhook delivery. A malformed event becomes a PoisonEvent; the rest go on.

    ``headers`` (case-insensitive) are used for CloudEvents binary mode (``ce-*``) and to
    notice a validation request (``aeg-event-type: SubscriptionValidation``) without a code.
    """
    hdrs = {k.lower(): v for k, v in headers.items()} if headers else {}
    parser = _Parser(_lowered_or_none(supported_types), _lowered_or_none(subscriptions))
    delivery = parser.delivery

    if isinstance(body, bytes | bytearray | str):
        decoded = _decode_body(body, delivery)
        if decoded is _NOT_JSON:
            return delivery
        document: Any = decoded
    elif isinstance(body, list | dict):
        document = body
    else:
        raise TypeError(f"body must be bytes, str, list or dict, not {type(body).__name__}")

    if "ce-specversion" in hdrs and not (isinstance(document, dict) and _ce_version(document)):
        document = _binary_cloudevent(hdrs, document)

    if isinstance(document, dict):
        events: list[Any] = [document]
    elif isinstance(document, list):
        events = document
    else:
        delivery.total = 1
        delivery.poison.append(
            PoisonEvent(
                None,
                f"body: expected a JSON object or array, got {_json_type(document)}",
                _raw(document),
            )
        )
        return delivery

    if len(events) > max_events:
        # All or nothing: the caller refuses the whole delivery (HTTP 413) so every event of
        # it stays with the sender, instead of half being processed and half parked.
        delivery.total = len(events)
        delivery.over_limit = True
        return delivery
    for index, event in enumerate(events):
        parser.add(index, event)

    if (
        hdrs.get("aeg-event-type", "").strip().lower() == "subscriptionvalidation"
        and delivery.validation_code is None
        and not parser.saw_validation
    ):
        delivery.poison.append(
            PoisonEvent(
                None,
                "headers.aeg-event-type: SubscriptionValidation, but the body holds no "
                "Microsoft.EventGrid.SubscriptionValidationEvent",
                # Each event as its own poison record would keep it: no caller identity.
                _raw(
                    _debug_view(document)
                    if isinstance(document, dict)
                    else [_debug_view(e) for e in events[:100]]
                ),
            )
        )
    return delivery


def change_from_function_event(
    event: Any,
    *,
    supported_types: Collection[str] | None = None,
    subscriptions: Collection[str] | None = None,
) -> Delivery:
    """Normalizes the one event the Azure Functions Event Grid trigger hands over.

    Duck-typed: an ``azure.functions.EventGridEvent`` (``id``, ``subject``, ``event_type``,
    ``event_time``, ``topic``, ``get_json()``) or an ``azure.functions`` ``CloudEvent``
    (``id``, ``source``, ``type``, ``specversion``, ``time``, ``subject``, ``get_json()``).
    A naive ``event_time`` (the worker's parse of a time without offset) is read as UTC.
    """
    parser = _Parser(_lowered_or_none(supported_types), _lowered_or_none(subscriptions))
    try:
        document = _function_event_document(event)
    except Exception as exc:  # an object that is not an event at all: poison, never raise
        parser.delivery.total = 1
        parser.delivery.poison.append(
            PoisonEvent(
                0, f"event[0]: not an Event Grid event object: {exc}", repr(event)[:MAX_RAW_CHARS]
            )
        )
        return parser.delivery
    parser.add(0, document)
    return parser.delivery


def _function_event_document(event: Any) -> dict[str, Any]:
    if hasattr(event, "event_type"):
        return {
            "id": event.id,
            "topic": getattr(event, "topic", None),
            "subject": event.subject,
            "eventType": event.event_type,
            "eventTime": event.event_time,
            "data": event.get_json(),
            "dataVersion": getattr(event, "data_version", None),
        }
    if hasattr(event, "specversion") and hasattr(event, "type"):
        return {
            "specversion": event.specversion,
            "id": event.id,
            "source": getattr(event, "source", None),
            "type": event.type,
            "time": getattr(event, "time", None),
            "subject": getattr(event, "subject", None),
            "data": event.get_json(),
        }
    raise TypeError(f"{type(event).__name__} has neither event_type nor specversion/type")


_NOT_JSON = object()


def _decode_body(body: bytes | bytearray | str, delivery: Delivery) -> Any:
    if isinstance(body, bytes | bytearray):
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            delivery.total = 1
            delivery.poison.append(
                PoisonEvent(
                    None,
                    f"body: not UTF-8 text ({exc.reason} at byte {exc.start})",
                    _unparsed_raw(bytes(body[:MAX_RAW_CHARS]).decode("utf-8", "replace")),
                )
            )
            return _NOT_JSON
    else:
        text = body.removeprefix("\ufeff")
    if not text.strip():
        delivery.total = 1
        delivery.poison.append(PoisonEvent(None, "body: empty", text[:MAX_RAW_CHARS]))
        return _NOT_JSON
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"body: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError as exc:  # an integer of more than 4,300 digits (int_max_str_digits)
        error = f"body: not JSON this parser can read: {str(exc).split(';')[0]}"
    except RecursionError:
        error = "body: not JSON this parser can read: nested too deeply"
    delivery.total = 1
    delivery.poison.append(PoisonEvent(None, error, _unparsed_raw(text)))
    return _NOT_JSON


def _binary_cloudevent(hdrs: Mapping[str, str], data: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"specversion": hdrs["ce-specversion"], "data": data}
    for name in ("id", "type", "source", "time", "subject"):
        value = hdrs.get(f"ce-{name}")
        if value is not None:
            event[name] = value
    return event


def _ce_version(event: Mapping[str, Any]) -> Any:
    version = event.get("specversion")
    return version if version is not None else event.get("specVersion")


class _Parser:
    """Normalizes events one at a time into a Delivery; holds the per-delivery state."""

    def __init__(
        self,
        supported_types: frozenset[str] | None,
        subscriptions: frozenset[str] | None = None,
    ) -> None:
        self.delivery = Delivery()
        self.supported_types = supported_types
        self.subscriptions = subscriptions
        self.seen_ids: set[str] = set()
        self.saw_validation = False

    def add(self, index: int, event: Any) -> None:
        delivery = self.delivery
        delivery.total += 1
        event_id = event.get("id") if isinstance(event, dict) else None
        try:
            outcome = self._normalize(event)
        except Exception as exc:  # _Bad, or anything a hostile event provokes: never the batch
            if isinstance(exc, _Bad):
                error = f"event[{index}]{exc.path}: {exc.message}"
            else:
                error = f"event[{index}]: could not be read ({type(exc).__name__})"
            delivery.poison.append(
                PoisonEvent(
                    index,
                    _clip(error),
                    _raw(_debug_view(event)),
                    event_id if isinstance(event_id, str) else None,
                )
            )
            return
        if isinstance(outcome, ResourceChange):
            delivery.changes.append(outcome)
        elif outcome:
            delivery.ignored[outcome] += 1

    def _normalize(self, event: Any) -> ResourceChange | str:
        """A change, an ignore reason, or "" (a validation event, recorded on the Delivery)."""
        if not isinstance(event, dict):
            raise _Bad("", f"expected an event object, got {_json_type(event)}")
        version = _ce_version(event)
        if version is not None:
            if version != "1.0":
                raise _Bad(".specversion", f"unsupported CloudEvents version {_quote(version)}")
            type_key, time_key, topic_key = "type", "time", "source"
            topic = event.get("source")
        elif "eventType" in event:
            type_key, time_key, topic_key = "eventType", "eventTime", "topic"
            topic = event.get("topic")
        else:
            raise _Bad(
                "",
                "neither an Event Grid event (no 'eventType') nor a CloudEvent (no 'specversion')",
            )
        event_type = _required_str(event, type_key, "")
        event_id = _required_str(event, "id", "")
        lowered = event_type.lower()

        if lowered == VALIDATION_EVENT:
            return self._validation(event)
        ignored = _IGNORED_TYPES.get(lowered)
        if ignored is not None:
            return ignored
        kind = _KINDS.get(lowered)
        if kind is None:
            return "not_a_resource_event"

        data = _data(event, version is not None)
        if event_id in self.seen_ids:
            return "duplicate_event"
        raw_time = _required(event, time_key, "")
        try:
            event_time = parse_event_time(raw_time)
        except ValueError as exc:
            raise _Bad(f".{time_key}", str(exc)) from None

        notification = lowered.startswith(_NOTIFICATION_PREFIX)
        source_id = self._resource_id(event, data, notification)
        operation = _optional_str(data, "operationName")
        if operation is None:
            authorization = data.get("authorization")
            if isinstance(authorization, dict):
                operation = _optional_str(authorization, "action")
        if kind is ChangeKind.ACTION and operation is not None:
            if _is_policy_evaluation(operation):
                return "policy_evaluation"
            if is_read_only_action(operation):
                return "read_only_action"

        resource_id = affected_resource(source_id)
        try:
            affected_type = _type_of(resource_id)
        except ResourceIdError as exc:
            # An extension whose scope is no resource (an id that only parses with its
            # extension part): nothing to read or judge, whatever the supported types.
            raise _Bad("", f"the resource it affects is not an ARM id: {exc}") from None
        if self.supported_types is not None and not _supported_in(
            affected_type, self.supported_types
        ):
            return "unsupported_type"
        if kind is ChangeKind.DELETE and normalize(resource_id) != normalize(source_id):
            kind = ChangeKind.WRITE  # a child or extension went away; its parent changed

        claims = data.get("claims")
        caller = None
        if isinstance(claims, dict):
            caller = _optional_str(claims, "appid") or _optional_str(claims, "azp")
        subscription_id = _subscription(data, source_id, topic, f".{topic_key}")
        if self.subscriptions is not None and subscription_id.lower() not in self.subscriptions:
            return "outside_subscriptions"
        self.seen_ids.add(event_id)
        return ResourceChange(
            resource_id=resource_id,
            source_id=source_id,
            kind=kind,
            event_id=event_id,
            event_type=event_type,
            event_time=event_time,
            subscription_id=subscription_id,
            caller_appid=caller,
            correlation_id=_optional_str(data, "correlationId"),
            operation_name=operation,
        )

    def _validation(self, event: dict[str, Any]) -> str:
        self.saw_validation = True
        data = _data(event, False)
        code = _required_str(data, "validationCode", ".data")
        if self.delivery.validation_code is not None:
            return "extra_validation_event"
        self.delivery.validation_code = code
        self.delivery.validation_url = _optional_str(data, "validationUrl")
        return ""

    @staticmethod
    def _resource_id(event: dict[str, Any], data: dict[str, Any], notification: bool) -> str:
        if notification:
            info = data.get("resourceInfo")
            primary_path = ".data.resourceInfo.id"
            primary = info.get("id") if isinstance(info, dict) else None
        else:
            primary_path = ".data.resourceUri"
            primary = data.get("resourceUri")
        if primary is not None and not isinstance(primary, str):
            raise _Bad(primary_path, f"expected a string, got {_json_type(primary)}")
        path, value = primary_path, primary
        if not value or not value.strip():
            subject = event.get("subject")
            if not isinstance(subject, str) or not subject.strip():
                raise _Bad(primary_path, "missing (and the event has no subject to fall back on)")
            path, value = ".subject", subject
        try:
            return canonical(value)
        except ResourceIdError as exc:
            raise _Bad(path, _id_error(value, exc)) from None


# --------------------------------------------------------------------------------------------
# Small helpers


def _data(event: dict[str, Any], cloudevent: bool) -> dict[str, Any]:
    if "data" not in event and cloudevent and "data_base64" in event:
        encoded = event["data_base64"]
        try:
            data = json.loads(base64.b64decode(str(encoded), validate=True))
        except (binascii.Error, ValueError, RecursionError):
            raise _Bad(".data_base64", "not base64-encoded JSON") from None
    else:
        data = event.get("data")
    if data is None:
        raise _Bad(".data", "missing")
    if not isinstance(data, dict):
        raise _Bad(".data", f"expected an object, got {_json_type(data)}")
    return data


def _required(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    value = mapping.get(key)
    if value is None:
        raise _Bad(f"{where}.{key}", "missing")
    return value


def _required_str(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = _required(mapping, key, where)
    if not isinstance(value, str):
        raise _Bad(f"{where}.{key}", f"expected a string, got {_json_type(value)}")
    if not value.strip():
        raise _Bad(f"{where}.{key}", "empty")
    return value


def _optional_str(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _scope_parts(value: str) -> tuple[str | None, str | None]:
    """(subscription, resource group) named by a topic / source such as
    ``/subscriptions/{id}`` or ``/subscriptions/{id}/resourceGroups/{rg}``."""
    parts = [p.strip() for p in value.split("/") if p.strip()]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        return None, None
    group = parts[3] if len(parts) >= 4 and parts[2].lower() == "resourcegroups" else None
    return parts[1], group


def _placeholder(*values: str) -> bool:
    """A documentation placeholder (``{subscription-id}``; one published example spells the
    same one two ways). No real subscription id has braces, and ARM refuses such an id."""
    return any(v.startswith("{") and v.endswith("}") for v in values)


def _subscription(data: Mapping[str, Any], resource_id: str, topic: Any, topic_key: str) -> str:
    """The event's subscription; every place that names one must name the same one.

    The resource id's subscription must equal the topic's (a system topic only ever reports
    its own subscription, or resource group) and ``data.subscriptionId``; otherwise the event
    is poison: a crafted event cannot have phiguard read one subscription's resource while it
    is filed, scoped or routed as another's.
    """
    rid = parse(resource_id)
    declared = _optional_str(data, "subscriptionId")
    topic_sub, topic_group = _scope_parts(topic) if isinstance(topic, str) else (None, None)
    named = [
        (where, value.strip())
        for where, value in (
            ("resource id", rid.subscription),
            (topic_key.lstrip("."), topic_sub),
            ("data.subscriptionId", declared),
        )
        if value
    ]
    if not named:
        raise _Bad(
            ".data.subscriptionId", "missing, and neither the resource id nor the topic names one"
        )
    first_where, first = named[0]
    for where, value in named[1:]:
        if value.lower() != first.lower() and not _placeholder(value, first):
            raise _Bad(
                topic_key if where != "data.subscriptionId" else ".data.subscriptionId",
                f"names subscription {_quote(value)} but the {first_where} names {_quote(first)}",
            )
    if (
        topic_group is not None
        and rid.subscription is not None
        and (rid.resource_group or "").lower() != topic_group.lower()
        and not _placeholder(topic_group, rid.resource_group or "")
    ):
        raise _Bad(
            topic_key,
            f"is resource group {_quote(topic_group)}, but the resource is not in it",
        )
    return first


_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"


def _id_error(value: str, cleaned_error: ResourceIdError) -> str:
    """The parse error worded with the id as the event wrote it (not the cleaned one)."""
    if any(p.strip() in (".", "..") for p in value.split("/")):
        return str(cleaned_error)
    try:
        parse(value)
    except ResourceIdError as exc:
        return str(exc)
    return str(cleaned_error)


def _clip(error: str) -> str:
    return error if len(error) <= _MAX_ERROR else error[: _MAX_ERROR - 1] + "…"


# What a poison record keeps of an event: enough to find and replay it (id, type, subject,
# time, topic, the resource and operation), not who did it. Caller claims (name, UPN, object
# id, IP address), the HTTP request and the authorization evidence are dropped: personal data
# with no expiry in a table is a liability, and the event id finds them in the Activity Log.
_KEPT_EVENT_FIELDS = frozenset(
    {
        "id",
        "eventType",
        "type",
        "subject",
        "eventTime",
        "time",
        "topic",
        "source",
        "specversion",
        "specVersion",
        "dataVersion",
        "metadataVersion",
        "datacontenttype",
    }
)
_KEPT_DATA_FIELDS = frozenset(
    {
        "resourceUri",
        "operationName",
        "status",
        "subscriptionId",
        "tenantId",
        "resourceProvider",
        "correlationId",
        "validationCode",
        "resourceInfo",
        "operationalInfo",
        "apiVersion",
    }
)
_KEPT_RESOURCE_INFO = frozenset({"id", "name", "type", "location"})


def _debug_view(event: object) -> object:
    """The event without caller identity, for a poison record (see _KEPT_EVENT_FIELDS)."""
    if not isinstance(event, dict):
        return event if not isinstance(event, list | dict) else f"<{_json_type(event)}>"
    view: dict[str, object] = {k: v for k, v in event.items() if k in _KEPT_EVENT_FIELDS}
    dropped = sorted(str(k) for k in event if k not in _KEPT_EVENT_FIELDS and k != "data")
    data = event.get("data")
    if isinstance(data, dict):
        kept: dict[str, object] = {}
        for key, value in data.items():
            if key not in _KEPT_DATA_FIELDS:
                dropped.append(f"data.{key}")
            elif key == "resourceInfo" and isinstance(value, dict):
                kept[key] = {k: v for k, v in value.items() if k in _KEPT_RESOURCE_INFO}
            else:
                kept[key] = value
        view["data"] = kept
    elif "data" in event:
        view["data"] = data if not isinstance(data, list) else f"<{_json_type(data)}>"
    if dropped:
        view["phiguard_dropped"] = dropped[:50]
    return view


# Where caller identity starts in the text of a body that could not be parsed (Event Grid
# writes "authorization", then "claims", then "httpRequest" inside "data", after the event's id,
# subject and type): the poison record keeps the text before it only.
_IDENTITY_FIELD = re.compile(r'"(?:authorization|claims|httpRequest)"\s*:', re.IGNORECASE)


def _unparsed_raw(text: str) -> str:
    """The text of a body that is not JSON, for a poison record: cut where a caller-identity
    field begins (what follows is dropped, and the record says so), and at MAX_RAW_CHARS."""
    found = _IDENTITY_FIELD.search(text)
    if found is not None:
        text = text[: found.start()] + "[phiguard dropped the rest: caller identity]"
    return text[:MAX_RAW_CHARS]


def _raw(value: object) -> str:
    """The JSON text of ``value`` (``repr`` if it has none), cut at MAX_RAW_CHARS."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):  # an integer of more than 4,300 digits, or deep
            text = f"<{_json_type(value)} that has no text form>"
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS]
