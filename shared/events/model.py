"""What a delivery became: the :class:`Delivery` (changes, ignore counts, poison, the handshake)
and its :class:`PoisonEvent` records; the bounds of a delivery and of the texts kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from shared.kernel.changes import ResourceChange
from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import normalize

MAX_EVENTS = 5_000
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Event Grid sends at most 1 MB per event and batches of at most 1 MB (preferred size up to
1,024 KB, with an oversized event sent alone), so a bigger delivery is not from Event Grid."""
MAX_RAW_CHARS = 16_384
_MAX_QUOTED = 120
_MAX_ERROR = 500


class IgnoreReason(StrEnum):
    """Why an event was counted and not turned into a change (``Delivery.ignored``'s keys; a
    value compares equal to its string). See :mod:`shared.events`."""

    FAILURE = "failure"  # Resource{Write,Delete,Action}Failure
    CANCEL = "cancel"  # Resource{Write,Delete,Action}Cancel
    NOT_A_RESOURCE_EVENT = "not_a_resource_event"  # any other event type
    READ_ONLY_ACTION = "read_only_action"  # an action that cannot change the resource
    POLICY_EVALUATION = "policy_evaluation"  # Azure Policy recording an audit result
    UNSUPPORTED_TYPE = "unsupported_type"  # no check applies to the affected resource's type
    OUTSIDE_SUBSCRIPTIONS = "outside_subscriptions"  # not one of the watched subscriptions
    DUPLICATE_EVENT = "duplicate_event"  # the same event id twice in one delivery
    EXTRA_VALIDATION_EVENT = "extra_validation_event"  # a second validation event


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
    ignored: Counter[str] = field(default_factory=Counter)  # IgnoreReason → count
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


class _Bad(PhiguardError):
    """One event is malformed: ``path`` is relative to the event (``.data.resourceUri``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


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


def _clip(error: str) -> str:
    return error if len(error) <= _MAX_ERROR else error[: _MAX_ERROR - 1] + "…"
