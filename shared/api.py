"""What the HTTP and event triggers do, free of the Functions runtime so tests drive it directly.

Every endpoint is behind the Functions host's key auth (``AuthLevel.FUNCTION``); responses carry
resource metadata only, never resource data values.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.context import app_context
from shared.kernel.errors import PhiguardError

log = logging.getLogger("phiguard.api")

JSON = {"Content-Type": "application/json"}
_FILTERS = ("resource", "status", "severity", "hipaa")
_WEBHOOK_ALLOW = "POST, OPTIONS"  # the methods function_app routes to /api/events
# The CloudEvents web hook spec's origin is "the DNS expression" of the sender's host.
_ORIGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def handle_function_event(event: Any) -> dict[str, Any]:
    """One event from the Event Grid trigger; raises to make Event Grid redeliver."""
    from shared.events import change_from_function_event

    ctx = app_context()
    delivery = change_from_function_event(
        event,
        supported_types=ctx.engine.supported_types(),
        subscriptions=ctx.settings.subscriptions,
    )
    result = ctx.pipeline.handle(delivery)
    summary = _summary(result)
    log.info("event %s: %s", getattr(event, "id", "?"), summary)
    return summary


def handle_webhook(
    method: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, dict[str, str], str]:
    """The ``/api/events`` webhook: both handshakes, then a delivery in either schema."""
    from shared.errors import RedeliverError, is_transient
    from shared.events import MAX_BODY_BYTES, MAX_EVENTS, parse_delivery

    if method.upper() == "OPTIONS":
        # CloudEvents 1.0 webhook abuse protection (HTTP 1.1 Web Hooks for Event Delivery, 4.2,
        # https://github.com/cloudevents/spec/blob/v1.0/http-webhook.md#42-validation-response):
        # echo the origin, grant any rate ("*", which satisfies the MUST when the request
        # carried WebHook-Request-Rate), and name POST in ``Allow`` (a SHOULD of 4.2).
        origin = (_header(headers, "WebHook-Request-Origin") or "").strip()
        if not origin:
            return (
                400,
                {**JSON, "Allow": _WEBHOOK_ALLOW},
                json.dumps({"error": "WebHook-Request-Origin header missing"}),
            )
        if not _ORIGIN.fullmatch(origin):
            # Echoed into a response header: only a DNS name (with a port) goes back, never
            # control characters or a line break.
            return (
                400,
                {**JSON, "Allow": _WEBHOOK_ALLOW},
                json.dumps({"error": "WebHook-Request-Origin header is not a host name"}),
            )
        return (
            200,
            {
                "WebHook-Allowed-Origin": origin,
                "WebHook-Allowed-Rate": "*",
                "Allow": _WEBHOOK_ALLOW,
            },
            "",
        )
    if len(body) > MAX_BODY_BYTES:
        # Nothing is processed, so nothing is half-done: Event Grid dead-letters a 413
        # (documented as not retried), any other sender learns to split the batch.
        return _too_large(f"{len(body)} bytes exceed the limit of {MAX_BODY_BYTES} per delivery")
    ctx = app_context()
    delivery = parse_delivery(
        body,
        headers,
        supported_types=ctx.engine.supported_types(),
        subscriptions=ctx.settings.subscriptions,
    )
    if delivery.over_limit:
        return _too_large(
            f"{delivery.total} events exceed the limit of {MAX_EVENTS} per delivery "
            "(Event Grid's own maximum); split the batch"
        )
    validation = delivery.validation_code
    if validation is not None and not (delivery.changes or delivery.poison):
        return 200, JSON, json.dumps({"validationResponse": validation})
    if not delivery.changes and delivery.poison and not delivery.ignored and validation is None:
        for poison in delivery.poison:
            ctx.store.record_poison(poison.raw, poison.error, "webhook", _now())
        return 400, JSON, json.dumps({"error": delivery.poison[0].error, "recorded": True})
    try:
        result = ctx.pipeline.handle(delivery)
    except Exception as exc:
        if not is_transient(exc):
            raise
        # 503 makes Event Grid retry with backoff; what was recorded is coalesced next time.
        # Another transient failure (the store, recording poison) is named by its type only.
        error = str(exc) if isinstance(exc, RedeliverError) else f"{type(exc).__name__}; redeliver"
        return 503, JSON, json.dumps({"error": error})
    summary = _summary(result)
    if validation is not None:
        # The handshake is answered and the events that came with it were processed too.
        summary["validationResponse"] = validation
    return 200, JSON, json.dumps(summary)


def handle_queued_event(body: bytes) -> dict[str, Any]:
    """One Event Grid event that a system topic delivered to phiguard's storage queue (the
    deployed path: the app has no public endpoint, infra/modules/event-subscription.bicep).
    A malformed event is recorded as poison and the message is done; a failure raises, so the
    queue delivers the message again (then moves it to the poison queue)."""
    from shared.events import parse_delivery

    ctx = app_context()
    delivery = parse_delivery(
        queued_json(body),
        {},
        supported_types=ctx.engine.supported_types(),
        subscriptions=ctx.settings.subscriptions,
    )
    if not delivery.changes:
        for poison in delivery.poison:
            ctx.store.record_poison(poison.raw, poison.error, "queue", _now())
        return {
            "processed": 0,
            "poison": len(delivery.poison),
            "ignored": sum(delivery.ignored.values()),
        }
    summary = _summary(ctx.pipeline.handle(delivery))
    log.info("queued event: %s", summary)
    return summary


def queued_json(body: bytes) -> bytes:
    """A queue message's JSON: as it came (``host.json`` reads messages with
    ``messageEncoding: none``, as Learn documents Event Grid writing them), or base64-decoded
    when the text is base64 of a JSON object or array (MicrosoftDocs/azure-docs#102923 reports
    base64 messages; a producer or a Functions default could also write them). Anything else
    is passed on unchanged, to be recorded as poison with the parser's reason."""
    text = body.strip()
    if not text or text[:1] in (b"{", b"["):
        return body
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return body
    return decoded if decoded.lstrip()[:1] in (b"{", b"[") else body


def _too_large(error: str) -> tuple[int, dict[str, str], str]:
    log.warning("webhook delivery refused: %s", error)
    return 413, JSON, json.dumps({"error": error, "processed": 0})


def reconcile_all() -> dict[str, Any]:
    """Sweeps every configured subscription; one that cannot be swept does not stop the others.
    Ends with what it could not do: per subscription, the resources left for the next sweep
    (transient), those recorded as ERROR, and subscriptions that failed whole."""
    from shared.arm import ArmError
    from shared.errors import RedeliverError, StoreUnavailableError, is_transient

    ctx = app_context()
    totals: dict[str, Any] = {}
    failed: list[str] = []
    for subscription in ctx.settings.subscriptions:
        try:
            result = ctx.pipeline.sweep(subscription)
        except StoreUnavailableError:
            raise  # every other subscription would fail the same way
        except Exception as exc:
            # ARM refused the subscription, or something transient: the next sweep retries it.
            if not (isinstance(exc, ArmError) or is_transient(exc)):
                raise
            totals[subscription] = {"error": str(exc)[:500]}
            failed.append(subscription)
            continue
        totals[subscription] = _summary(result, "sweep")
        failed += result.transient
    log.info("reconcile: %s", json.dumps(totals)[:4000])
    if failed:
        raise RedeliverError(
            f"{len(failed)} resource(s) or subscription(s) could not be swept; the next sweep "
            "retries"
        )
    return totals


# The daily sweep's fan-out: the timer queues one message per subscription on the
# ``subscription-sweeps`` queue (function_app), and each is swept by its own invocation, so no
# single execution has to outlast the host's timeout or Flex Consumption's scale-in grace for a
# whole tenant. A queued sweep older than SWEEP_MESSAGE_HOURS is left to the next day's (the
# queue backed up, or the app was stopped): two sweeps would only repeat each other's reads.
SWEEP_MESSAGE_HOURS = 20


def planned_sweeps(now: datetime | None = None) -> list[str]:
    """The daily timer's messages: one per configured subscription."""
    from shared.kernel.clock import utcnow

    planned = (now or utcnow()).astimezone(UTC).isoformat().replace("+00:00", "Z")
    messages = [
        json.dumps({"subscription": s, "planned_at": planned})
        for s in app_context().settings.subscriptions
    ]
    log.info("reconcile: %d subscription sweep(s) queued", len(messages))
    return messages


class SweepMessageError(PhiguardError, ValueError):
    """A queued sweep message phiguard cannot act on (named in the message)."""


def _sweep_message(body: bytes, configured: tuple[str, ...]) -> tuple[str, datetime]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SweepMessageError(f"not JSON, or nested too deep ({len(body)} bytes)") from None
    if not isinstance(message, dict):
        raise SweepMessageError(f"a JSON {type(message).__name__}, not an object")
    subscription, planned = message.get("subscription"), message.get("planned_at")
    if not isinstance(subscription, str) or not isinstance(planned, str):
        raise SweepMessageError("needs the string properties subscription and planned_at")
    wanted = {s.lower(): s for s in configured}
    if subscription.lower() not in wanted:
        # Whoever can write to the queue cannot point the sweep at another subscription.
        raise SweepMessageError(
            f"subscription {subscription[:64]!r} is not one of PHIGUARD_SUBSCRIPTIONS"
        )
    try:
        at = datetime.fromisoformat(planned.replace("Z", "+00:00"))
    except ValueError:
        raise SweepMessageError(f"planned_at {planned[:40]!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SweepMessageError(f"planned_at {planned[:40]!r} has no UTC offset")
    return wanted[subscription.lower()], at


def sweep_queued(body: bytes) -> dict[str, Any] | None:
    """One subscription's sweep, from a message of :func:`planned_sweeps`. Raises (so the queue
    redelivers it, then moves it to ``subscription-sweeps-poison``) only when the whole
    subscription could not be swept for a transient cause: the store or ARM unreachable.
    Resources left unread are logged; the next day's sweep reads them (a redelivery would
    sweep the whole subscription again). A message it cannot act on is logged and dropped."""
    from shared.arm import ArmError
    from shared.errors import RedeliverError, StoreUnavailableError, is_transient
    from shared.kernel.clock import utcnow

    ctx = app_context()
    try:
        subscription, planned = _sweep_message(body, ctx.settings.subscriptions)
    except SweepMessageError as exc:
        log.error("sweep message dropped: %s", exc)
        return None
    age = utcnow() - planned
    if age < -timedelta(hours=1):  # beyond any clock skew: not a message the timer wrote
        log.error("sweep message dropped: planned_at %s is in the future", planned.isoformat())
        return None
    if age > timedelta(hours=SWEEP_MESSAGE_HOURS):
        log.warning(
            "sweep of %s planned %s ago dropped: the next daily sweep reads it",
            subscription,
            str(age).split(".")[0],
        )
        return None
    try:
        result = ctx.pipeline.sweep(subscription)
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise RedeliverError(f"sweep of {subscription}: {type(exc).__name__}") from None
        if not isinstance(exc, ArmError):
            raise
        log.error("sweep of %s refused by ARM: %s", subscription, str(exc)[:500])
        return {"subscription": subscription, "error": str(exc)[:500]}
    summary = _summary(result, "sweep")
    if result.transient:
        log.warning(
            "sweep of %s left %d resource(s) for the next sweep",
            subscription,
            len(result.transient),
        )
    log.info("sweep of %s: %s", subscription, json.dumps(summary)[:4000])
    return {"subscription": subscription, **summary}


def access_review_weekly(week: str | None = None) -> dict[str, Any]:
    """The weekly access review (timer): reads ARM and Graph, writes the week's report to Blob
    Storage (replacing a previous run of the same week), announces it once and returns the
    announcement (counts and the link)."""
    from shared.access.engine import announcement, run_weekly

    outcome = run_weekly(app_context().settings, week=week)
    summary = announcement(outcome)
    announce_access_review(summary)
    return summary


def announce_access_review(summary: dict[str, Any]) -> None:
    """The review's announcement: logged, and a Teams card and an email with the counts and
    the report's location through the outbox (sent by the outbox timer) when channels exist."""
    from shared.followup import FollowUpCounts
    from shared.kernel.clock import utcnow
    from shared.notify.model import access_review_ready

    log.info("access review %s: %s", summary["week"], json.dumps(summary["counts"]))
    followups = app_context().followups
    if followups is not None:
        followups.notify(access_review_ready(summary, utcnow()), FollowUpCounts())


def export_evidence() -> dict[str, Any]:
    """The evidence timer: every full UTC day of the last week not exported yet (normally
    yesterday) copied to the write-once container."""
    from shared.evidence import export

    days = export(app_context())
    summary = {d.day.isoformat(): {"counts": d.counts, "written": len(d.written)} for d in days}
    log.info("evidence export: %s", json.dumps(summary))
    return summary


def health() -> tuple[int, dict[str, Any]]:
    ctx = app_context()
    try:
        ctx.store.marker("/subscriptions/health-probe")
    except Exception as exc:  # health reports trouble, never raises
        return 503, {"status": "unhealthy", "store": type(exc).__name__}
    body: dict[str, Any] = {"status": "ok", "checks": len(ctx.engine.catalog)}
    if ctx.people_error is not None:
        body["status"] = "degraded"
        body["people"] = {"error": ctx.people_error}
        return 200, body
    try:
        channels = sorted(c.value for c in ctx.senders())
        if channels:
            dead = len(ctx.outbox.dead())
            body["outbox"] = {
                "channels": channels,
                "pending": len(ctx.outbox.pending()),
                "dead": dead,
            }
            if dead:
                body["status"] = "degraded"  # messages that will not be sent without a person
    except Exception as exc:  # a bad channel setting is reported, not raised
        body["status"] = "degraded"
        body["outbox"] = {"error": type(exc).__name__}
    return 200, body


def dispatch_outbox() -> dict[str, Any]:
    """The outbox timer: sends what is due (issues, cards, email), with backoff and quotas."""
    from shared.messaging import dispatch

    ctx = app_context()
    if ctx.people_error is not None:
        log.error("outbox not sent: %s", ctx.people_error)
        return {"error": ctx.people_error}
    report = dispatch(ctx)
    summary = {
        "sent": report.sent,
        "retried": report.retried,
        "dead": report.dead,
        "skipped": report.skipped,
        "by_channel": report.by_channel,
    }
    if report.sent or report.retried or report.dead:
        log.info("outbox: %s", json.dumps(summary))
    _metrics(
        "outbox",
        {**summary, "pending": len(ctx.outbox.pending()), "dead_letters": len(ctx.outbox.dead())},
    )
    return summary


def send_digest() -> dict[str, Any]:
    """The digest timer: the period's digest enqueued (none when quiet), the issues reconciled,
    then one dispatcher pass."""
    from shared.messaging import dispatch, enqueue_digest, sync_issues

    ctx = app_context()
    if ctx.people_error is not None:
        log.error("digest not sent: %s", ctx.people_error)
        return {"error": ctx.people_error}
    digests = enqueue_digest(ctx)
    sync = sync_issues(ctx)
    report = dispatch(ctx)
    summary = {
        "digests": digests,
        "issues_opened": sync.opened,
        "issues_closed": sync.closed,
        "sent": report.sent,
    }
    log.info("digest: %s", json.dumps(summary))
    return summary


def findings(params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    unknown = sorted(set(params) - set(_FILTERS) - {"code"})
    if unknown:
        return 400, {
            "error": f"unknown query parameter(s): {', '.join(unknown)}",
            "allowed": list(_FILTERS),
        }
    filters = {k: params[k] for k in _FILTERS if params.get(k)}
    if "status" in filters:
        filters["status"] = filters["status"].upper()
    if "severity" in filters:
        filters["severity"] = filters["severity"].upper()
    rows = app_context().store.current(
        resource_id=filters.get("resource"),
        status=filters.get("status"),
        severity=filters.get("severity"),
        hipaa=filters.get("hipaa"),
    )
    return 200, {"count": len(rows), "findings": [r.to_json() for r in rows]}


def _summary(result: Any, kind: str = "events") -> dict[str, Any]:
    actions: dict[str, int] = {}
    transitions = 0
    for outcome in result.outcomes:
        actions[outcome.action] = actions.get(outcome.action, 0) + 1
        transitions += int(getattr(outcome, "transitions", 0) or 0)
    summary: dict[str, Any] = {
        "events": result.events,
        "resources": actions,
        "ignored": dict(result.ignored),
        "poison": result.poison,
    }
    latencies = [o.latency_seconds for o in result.outcomes if o.latency_seconds is not None]
    _metrics(
        kind,
        {
            **summary,
            "transitions": transitions,
            "errors": len(result.errors),
            "latency_seconds_max": max(latencies, default=0.0),
        },
    )
    if result.errors:
        summary["errors"] = result.errors[:100]
    return summary


def _metrics(kind: str, values: Mapping[str, Any]) -> None:
    """One ``phiguard.metrics`` line (shared.telemetry) with the process's ARM request count and
    the remediation records since the last line. Never raises: telemetry is not the job."""
    from shared.telemetry import emit

    try:
        ctx = app_context()
        extra: dict[str, Any] = {}
        reader = ctx.__dict__.get("reader")  # only if this process built one
        if reader is not None:
            extra["arm_requests_total"] = reader.stats.calls
        actions = ctx.__dict__.get("actions")
        if actions is not None:
            extra["remediations"] = actions.tally.take()
        emit(kind, {**values, **extra})
    except Exception as exc:  # logged by type only
        log.warning("metrics not emitted (%s)", type(exc).__name__)


def _now() -> Any:
    from shared.kernel.clock import utcnow

    return utcnow()
