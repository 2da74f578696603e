"""The debug view a poison record keeps of an event or a body: enough to find and replay it,
never who did it (caller identity is dropped), bounded to MAX_RAW_CHARS."""

from __future__ import annotations

import json
import re

from shared.events.model import MAX_RAW_CHARS, _json_type

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
