"""One event → a :class:`~shared.kernel.changes.ResourceChange`, an ignore reason or poison,
for either schema (Event Grid, CloudEvents 1.0): the event types, times, the resource id and the
subscription every place of the event must agree on (see :mod:`shared.events`)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.events.model import Delivery, IgnoreReason, PoisonEvent, _Bad, _clip, _json_type, _quote
from shared.events.poison import _debug_view, _raw
from shared.events.resources import (
    _is_policy_evaluation,
    _supported_in,
    _type_of,
    affected_resource,
    is_read_only_action,
)
from shared.kernel.changes import ChangeKind, ResourceChange
from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import ResourceIdError, canonical, normalize, parse

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"

_KINDS: dict[str, ChangeKind] = {
    "microsoft.resources.resourcewritesuccess": ChangeKind.WRITE,
    "microsoft.resources.resourcedeletesuccess": ChangeKind.DELETE,
    "microsoft.resources.resourceactionsuccess": ChangeKind.ACTION,
    "microsoft.resourcenotifications.resources.createdorupdated": ChangeKind.WRITE,
    "microsoft.resourcenotifications.resources.deleted": ChangeKind.DELETE,
}
_NOTIFICATION_PREFIX = "microsoft.resourcenotifications."
_IGNORED_TYPES: dict[str, IgnoreReason] = {
    **{
        f"microsoft.resources.resource{op}failure": IgnoreReason.FAILURE
        for op in ("write", "delete", "action")
    },
    **{
        f"microsoft.resources.resource{op}cancel": IgnoreReason.CANCEL
        for op in ("write", "delete", "action")
    },
}

_TIME_SHAPE = re.compile(r"\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")


_PROVIDER_NAMESPACE = re.compile(r"(?i)(?:/subscriptions/[^/]+)?/providers/[^/]+/?")


class _ProviderNamespace(PhiguardError):
    """The event's id is a resource provider namespace, not a resource."""


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
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:30:00+01:00: before the first representable instant
        raise ValueError(f"a date-time out of range: {_quote(str(value))}") from None


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
        elif outcome is not None:
            delivery.ignored[outcome] += 1

    def _normalize(self, event: Any) -> ResourceChange | IgnoreReason | None:
        """A change, an ignore reason, or None (a validation event, recorded on the Delivery)."""
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
            return IgnoreReason.NOT_A_RESOURCE_EVENT

        data = _data(event, version is not None)
        if event_id in self.seen_ids:
            return IgnoreReason.DUPLICATE_EVENT
        raw_time = _required(event, time_key, "")
        try:
            event_time = parse_event_time(raw_time)
        except ValueError as exc:
            raise _Bad(f".{time_key}", str(exc)) from None

        notification = lowered.startswith(_NOTIFICATION_PREFIX)
        try:
            id_path, source_id = self._resource_id(event, data, notification)
        except _ProviderNamespace:
            # A resource provider's registration (register/action on
            # /subscriptions/{s}/providers/Microsoft.Storage): a real subscription event, about
            # no resource any check reads.
            return IgnoreReason.UNSUPPORTED_TYPE
        operation = _optional_str(data, "operationName")
        if operation is None:
            authorization = data.get("authorization")
            if isinstance(authorization, dict):
                operation = _optional_str(authorization, "action")
        if kind is ChangeKind.ACTION and operation is not None:
            if _is_policy_evaluation(operation):
                return IgnoreReason.POLICY_EVALUATION
            if is_read_only_action(operation):
                return IgnoreReason.READ_ONLY_ACTION

        try:
            resource_id = affected_resource(source_id)
            affected_type = _type_of(resource_id)
            if canonical(resource_id) != resource_id:
                raise ResourceIdError(f"{resource_id!r:.160} is not in canonical form")
        except ResourceIdError as exc:
            # An extension whose scope is no resource, or a protected item whose name composes
            # no VM id: nothing to read or judge, whatever the supported types.
            raise _Bad(id_path, f"the resource it affects is not an ARM id: {exc}") from None
        if self.supported_types is not None and not _supported_in(
            affected_type, self.supported_types
        ):
            return IgnoreReason.UNSUPPORTED_TYPE
        if kind is ChangeKind.DELETE and normalize(resource_id) != normalize(source_id):
            kind = ChangeKind.WRITE  # a child or extension went away; its parent changed

        claims = data.get("claims")
        caller = None
        if isinstance(claims, dict):
            caller = _optional_str(claims, "appid") or _optional_str(claims, "azp")
        subscription_id = _subscription(data, source_id, topic, f".{topic_key}")
        if self.subscriptions is not None and subscription_id.lower() not in self.subscriptions:
            return IgnoreReason.OUTSIDE_SUBSCRIPTIONS
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

    def _validation(self, event: dict[str, Any]) -> IgnoreReason | None:
        self.saw_validation = True
        data = _data(event, False)
        code = _required_str(data, "validationCode", ".data")
        if self.delivery.validation_code is not None:
            return IgnoreReason.EXTRA_VALIDATION_EVENT
        self.delivery.validation_code = code
        self.delivery.validation_url = _optional_str(data, "validationUrl")
        return None

    @staticmethod
    def _resource_id(
        event: dict[str, Any], data: dict[str, Any], notification: bool
    ) -> tuple[str, str]:
        """(where the id was read, the canonical id): the primary field, else ``subject``."""
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
        if _PROVIDER_NAMESPACE.fullmatch(value.strip()):
            raise _ProviderNamespace
        try:
            return path, canonical(value)
        except ResourceIdError as exc:
            raise _Bad(path, _id_error(value, exc)) from None


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


def _id_error(value: str, cleaned_error: ResourceIdError) -> str:
    """The parse error worded with the id as the event wrote it (not the cleaned one)."""
    if any(p.strip() in (".", "..") for p in value.split("/")):
        return str(cleaned_error)
    try:
        parse(value)
    except ResourceIdError as exc:
        return str(exc)
    return str(cleaned_error)
