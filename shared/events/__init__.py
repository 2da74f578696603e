"""Event Grid deliveries → normalized :class:`~shared.kernel.changes.ResourceChange` records.

This is the first stage of the flow of one event (README "How an event flows"): it decodes what Event Grid
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
* CloudEvents 1.0, binary mode: attributes in ``ce-*`` headers (double-quoted strings unescaped,
  then percent-decoded as the HTTP binding 3.1.3.2 requires; bytes that are not UTF-8 make the
  event poison), the body is the ``data``. The ``Content-Type`` picks the mode: a value starting
  with ``application/cloudevents`` is structured or batched mode even when ``ce-*`` headers
  come along.
* One event object from the Azure Functions Event Grid trigger
  (:func:`change_from_function_event`).

What becomes a change, and what is ignored (``Delivery.ignored``, :class:`IgnoreReason` → count):

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

Bounds: at most :data:`MAX_EVENTS` events per delivery (Event Grid's own batch maximum; a
bigger delivery is not parsed at all, ``Delivery.over_limit``, and the webhook refuses it whole
with 413 so a sender can split and resend), poison ``raw`` text at most :data:`MAX_RAW_CHARS`
characters, values quoted in errors at most 120 characters. Parsing is linear in the number of
events; id mapping is memoized. Error texts are at most 500 characters.

Modules (names with a leading underscore are shared between them, not outside the package):

* :mod:`shared.events.model` — :class:`Delivery`, :class:`PoisonEvent`, :class:`IgnoreReason`,
  the bounds;
* :mod:`shared.events.resources` — id cleaning, :func:`affected_resource` (child → parent),
  :func:`supported`, :func:`is_read_only_action`;
* :mod:`shared.events.normalize` — one event of either schema → a change, an ignore reason or
  poison; :func:`parse_event_time`;
* :mod:`shared.events.parse` — :func:`parse_delivery` and :func:`change_from_function_event`;
* :mod:`shared.events.poison` — what a poison record keeps of an event (no caller identity).
"""

from __future__ import annotations

from shared.events.model import (
    MAX_BODY_BYTES,
    MAX_EVENTS,
    MAX_RAW_CHARS,
    Delivery,
    IgnoreReason,
    PoisonEvent,
)
from shared.events.normalize import VALIDATION_EVENT, parse_event_time
from shared.events.parse import change_from_function_event, parse_delivery
from shared.events.resources import (
    LOOKUP_TYPES,
    SCOPE_TYPES,
    affected_resource,
    clean_resource_id,
    is_read_only_action,
    supported,
)

__all__ = [
    "LOOKUP_TYPES",
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "MAX_RAW_CHARS",
    "SCOPE_TYPES",
    "VALIDATION_EVENT",
    "Delivery",
    "IgnoreReason",
    "PoisonEvent",
    "affected_resource",
    "change_from_function_event",
    "clean_resource_id",
    "is_read_only_action",
    "parse_delivery",
    "parse_event_time",
    "supported",
]
