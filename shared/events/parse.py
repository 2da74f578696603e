"""Deliveries: a webhook body (JSON array or object, CloudEvents structured or binary mode) or
the one event the Functions trigger hands over, decoded and fed event by event to the
normalizer; a body that cannot be read is one poison record (see :mod:`shared.events`)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import unquote

from shared.events.model import (
    MAX_EVENTS,
    MAX_RAW_CHARS,
    Delivery,
    PoisonEvent,
    _json_type,
    _quote,
)
from shared.events.normalize import _ce_version, _Parser
from shared.events.poison import _debug_view, _raw, _unparsed_raw
from shared.events.resources import _lowered_or_none
from shared.kernel.errors import PhiguardError


def parse_delivery(
    body: bytes | bytearray | str | list[Any] | dict[str, Any] | float | bool | None,
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
    elif body is None or isinstance(body, list | dict | bool | int | float):
        document = body  # already parsed JSON: any value (null, a number) is read as the text's
    else:
        raise TypeError(f"body must be bytes, str or parsed JSON, not {type(body).__name__}")

    if _binary_mode(hdrs, document):
        try:
            document = _binary_cloudevent(hdrs, document)
        except _HeaderError as exc:
            delivery.total = 1
            view = _binary_view(hdrs, document)
            event_id = view.get("id")
            delivery.poison.append(
                PoisonEvent(
                    0,
                    str(exc),
                    _raw(_debug_view(view)),
                    event_id.strip() if isinstance(event_id, str) else None,
                )
            )
            return delivery

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


_BINARY_ATTRIBUTES = ("specversion", "id", "type", "source", "time", "subject")


class _HeaderError(PhiguardError, ValueError):
    """A ``ce-*`` header whose value cannot be decoded (names the header)."""


def _binary_mode(hdrs: Mapping[str, str], document: Any) -> bool:
    """CloudEvents HTTP binding 3: the ``Content-Type`` picks the mode. A value starting with
    ``application/cloudevents`` is structured (``+json``) or batched (``-batch+json``) mode,
    whatever ``ce-*`` headers come along (3.2.3 lets structured mode repeat them); otherwise
    ``ce-specversion`` marks binary mode, where the body is the ``data``. A body that is itself
    a CloudEvent is still read as one (a sender that mislabelled structured mode).
    https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md#3-http-message-mapping
    """
    if "ce-specversion" not in hdrs:
        return False
    if hdrs.get("content-type", "").strip().lower().startswith("application/cloudevents"):
        return False
    return not (isinstance(document, dict) and _ce_version(document))


def _header_value(name: str, value: str) -> str:
    """A ``ce-*`` header value decoded as the HTTP binding 3.1.3.2 requires: a double-quoted
    string unescaped (RFC 7230 3.2.6), then one round of percent-decoding; an encoded byte
    sequence that is not UTF-8 (such as the overlong ``%C0%A0``) is refused."""
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _HeaderError(
            f"headers.{name}: percent-encoded bytes that are not UTF-8 ({_quote(value)})"
        ) from None


def _binary_cloudevent(hdrs: Mapping[str, str], data: Any) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name in _BINARY_ATTRIBUTES:
        value = hdrs.get(f"ce-{name}")
        if value is not None:
            event[name] = _header_value(f"ce-{name}", value)
    event["data"] = data
    return event


def _binary_view(hdrs: Mapping[str, str], data: Any) -> dict[str, Any]:
    """A binary-mode event as received (header values undecoded), for a poison record."""
    view = {name: hdrs[f"ce-{name}"] for name in _BINARY_ATTRIBUTES if f"ce-{name}" in hdrs}
    return {**view, "data": data}
