"""The Azure Functions app: triggers only. Each decodes its input, calls the engine, returns.

Kept light on purpose: cold start is a product feature, so nothing heavy is imported here; the
engine, clients and SDKs load on first use (shared.context).
"""

from __future__ import annotations

import json
import logging
import typing

import azure.functions as func

from shared import api

# The Azure SDKs' HTTP logging policy logs every request it sends (URL, method, headers) at INFO,
# and the Functions host ships INFO to Application Insights (host.json): several trace lines per
# storage request, billed, for a sweep's thousands. Its warnings and errors still pass.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.function_name("on_resource_change")
@app.event_grid_trigger(arg_name="event")
def on_resource_change(event: func.EventGridEvent) -> None:
    """Event Grid trigger: one resource event. Raising makes Event Grid redeliver."""
    api.handle_function_event(event)


@app.function_name("on_queued_resource_change")
@app.queue_trigger(
    arg_name="message", queue_name="resource-events", connection="AzureWebJobsStorage"
)
def on_queued_resource_change(message: func.QueueMessage) -> None:
    """Storage queue trigger: one Event Grid event, as the deployed system topics deliver them
    (the app has no public endpoint). Raising makes the queue redeliver, then poison it."""
    api.handle_queued_event(message.get_body())


@app.function_name("events_webhook")
@app.route(route="events", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
def events_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Event Grid / CloudEvents webhook, with both validation handshakes."""
    status, headers, body = api.handle_webhook(req.method, dict(req.headers), req.get_body())
    return func.HttpResponse(body, status_code=status, headers=headers, mimetype="application/json")


@app.function_name("reconcile")
@app.timer_trigger(
    arg_name="timer",
    schedule="%PHIGUARD_RECONCILE_SCHEDULE%",
    run_on_startup=False,
    use_monitor=True,
)
@app.queue_output(
    arg_name="sweeps", queue_name="subscription-sweeps", connection="AzureWebJobsStorage"
)
# typing.List, not list[str]: the worker's queue converter recognizes only typing's generics.
def reconcile(timer: func.TimerRequest, sweeps: func.Out[typing.List[str]]) -> None:  # noqa: UP006
    """Daily sweep, which catches changes whose event was lost: one queued sweep per configured
    subscription, each its own invocation (sweep_subscription)."""
    if timer.past_due:
        logging.getLogger("phiguard").info("reconcile timer is past due; queueing the sweeps now")
    sweeps.set(api.planned_sweeps())


@app.function_name("sweep_subscription")
@app.queue_trigger(
    arg_name="message", queue_name="subscription-sweeps", connection="AzureWebJobsStorage"
)
def sweep_subscription(message: func.QueueMessage) -> None:
    """Storage queue trigger: the daily sweep of one subscription. Raising (the store or ARM
    unreachable) makes the queue redeliver it, then poison it."""
    api.sweep_queued(message.get_body())


@app.function_name("outbox")
@app.timer_trigger(
    arg_name="timer", schedule="%PHIGUARD_OUTBOX_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def outbox(timer: func.TimerRequest) -> None:
    """Sends what the outbox holds: issue operations, Teams cards, email; retries with backoff."""
    api.dispatch_outbox()


@app.function_name("digest")
@app.timer_trigger(
    arg_name="timer", schedule="%PHIGUARD_DIGEST_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def digest(timer: func.TimerRequest) -> None:
    """The period's digest (quiet when nothing changed) and the issue reconciliation."""
    api.send_digest()


@app.function_name("access_review")
@app.timer_trigger(
    arg_name="timer",
    schedule="%PHIGUARD_ACCESS_REVIEW_SCHEDULE%",
    run_on_startup=False,
    use_monitor=True,
)
def access_review(timer: func.TimerRequest) -> None:
    """Weekly access review: every path to PHI, the diff against last week, to Blob Storage."""
    api.access_review_weekly()


@app.function_name("evidence")
@app.timer_trigger(
    arg_name="timer",
    schedule="%PHIGUARD_EVIDENCE_SCHEDULE%",
    run_on_startup=False,
    use_monitor=True,
)
def evidence(timer: func.TimerRequest) -> None:
    """Copies each day's history and remediation log to the write-once evidence container."""
    api.export_evidence()


@app.function_name("health")
@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    status, body = api.health()
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.function_name("findings")
@app.route(route="findings", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def findings(req: func.HttpRequest) -> func.HttpResponse:
    status, body = api.findings(dict(req.params))
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")
