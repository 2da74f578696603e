"""The Functions app's import: light (cold start) and free of dev-only code."""

from __future__ import annotations

import inspect
import json
import re

from shared.config import SETTINGS_DOC
from tests.conftest import APP_FUNCTIONS, REPO, in_fresh_interpreter, indexed_functions


def test_import_function_app_loads_no_sim_no_sdk_clients_and_no_catalog() -> None:
    probe = (
        "import json, sys, function_app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sim', 'checks') or m.startswith('azure.mgmt') or m.startswith('azure.data'))))"
    )
    assert json.loads(in_fresh_interpreter(probe)) == []


def test_the_sdks_per_request_http_log_stays_out_of_the_hosts_information_level() -> None:
    """The Functions host forwards INFO (host.json): the Azure SDKs' HTTP logging policy would
    add its request lines for every storage call. Its warnings still pass."""
    probe = (
        "import io, logging\n"
        "stream = io.StringIO()\n"
        "logging.basicConfig(level=logging.INFO, stream=stream)\n"
        "{imports}"
        "from azure.core.pipeline import PipelineContext, PipelineRequest\n"
        "from azure.core.pipeline.policies import HttpLoggingPolicy\n"
        "from azure.core.rest import HttpRequest\n"
        "request = HttpRequest('GET', 'https://acct.table.core.windows.net/state')\n"
        "HttpLoggingPolicy().on_request(PipelineRequest(request, PipelineContext(None)))\n"
        "logging.getLogger('azure.core.pipeline.policies.http_logging_policy').warning('warns')\n"
        "print(stream.getvalue())\n"
    )

    assert "Request URL" in in_fresh_interpreter(probe.format(imports=""))  # the policy alone
    quiet = in_fresh_interpreter(probe.format(imports="import function_app\n"))
    assert "Request URL" not in quiet and "warns" in quiet


# --- The functions as the Python worker indexes them (app.get_functions(), the v2 model) -----

FUNCTIONS = {
    str(f.get_function_name()): (
        json.loads(f.get_function_json())["bindings"],
        f.get_user_function(),
    )
    for f in indexed_functions()
}

# The host's own validation (Azure/azure-functions-host, src/WebJobs.Script/Utility.cs):
# FunctionNameValidationRegex, and BindingNameValidationRegex as hosts before 4.1038 apply it
# (no underscore; host PR #10764 later allowed snake case without "__"). A name the older rule
# accepts is accepted by both, so the app indexes on either host; one outside fails indexing.
HOST_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
HOST_BINDING_NAME = re.compile(r"^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$")

# Queue names (Learn, "Naming queues and metadata"): 3-63 characters, lowercase letters, digits
# and single hyphens, beginning and ending with a letter or digit.
QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")

INFRA = REPO / "infra"


def _ncrontab_errors(expression: str) -> list[str]:
    """What is wrong with an NCRONTAB expression as the timer trigger documents it (Learn,
    "Timer trigger for Azure Functions", NCRONTAB expressions): six fields, ``{second}
    {minute} {hour} {day} {month} {day-of-week}``; each a value, ``*``, a range ``a-b``, a
    list ``a,b``, or any of these with an interval ``/n``; months and days also by English
    name (case-insensitive, full or abbreviated); days of the week 0-6 from Sunday."""
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    fields: list[tuple[str, int, int, list[str]]] = [
        ("second", 0, 59, []),
        ("minute", 0, 59, []),
        ("hour", 0, 23, []),
        ("day", 1, 31, []),
        ("month", 1, 12, months),
        ("day-of-week", 0, 6, days),
    ]
    parts = expression.split()
    if len(parts) != len(fields):
        return [f"{len(parts)} fields, NCRONTAB has 6 ({{second}} first)"]

    def value(text: str, low: int, names: list[str]) -> int | None:
        if text.isdigit():
            return int(text)
        lowered = text.lower()
        full = {
            "january": "jan", "february": "feb", "march": "mar", "april": "apr", "june": "jun",
            "july": "jul", "august": "aug", "september": "sep", "october": "oct",
            "november": "nov", "december": "dec", "sunday": "sun", "monday": "mon",
            "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri",
            "saturday": "sat",
        }  # fmt: skip
        lowered = full.get(lowered, lowered)
        return names.index(lowered) + low if lowered in names else None

    errors: list[str] = []
    for part, (name, low, high, names) in zip(parts, fields, strict=True):
        for item in part.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) < 1):
                errors.append(f"{name}: interval {step!r}")
            if base == "*":
                continue
            bounds = [value(b, low, names) for b in base.split("-")]
            known = [b for b in bounds if b is not None and low <= b <= high]
            if len(bounds) > 2 or len(known) != len(bounds):
                errors.append(f"{name}: {base!r} is not within {low}-{high}")
            elif len(known) == 2 and known[0] > known[1]:
                errors.append(f"{name}: range {base!r} runs backwards")
    return errors


def test_the_ncrontab_reader_refuses_what_the_timer_trigger_would() -> None:
    assert _ncrontab_errors("0 */5 * * * *") == []
    assert _ncrontab_errors("0 30 9 * Jan-Mar Mon-Fri") == []
    assert _ncrontab_errors("0 0 6 * * monday") == []
    assert _ncrontab_errors("30 2 * * *") != []  # Unix cron: no seconds field
    assert _ncrontab_errors("0 0 24 * * *") != []
    assert _ncrontab_errors("0 0 6 * * 7") != []  # Sunday is 0
    assert _ncrontab_errors("0 0 6 0 * *") != []
    assert _ncrontab_errors("0 */0 * * * *") != []
    assert _ncrontab_errors("0 50-10 * * * *") != []


def test_every_function_and_binding_name_is_one_the_host_accepts() -> None:
    assert set(FUNCTIONS) == APP_FUNCTIONS
    for name, (bindings, _) in FUNCTIONS.items():
        assert HOST_FUNCTION_NAME.match(name) and name.lower() != "host", name
        for binding in bindings:
            assert HOST_BINDING_NAME.match(binding["name"]), (name, binding["name"])


def test_each_function_has_one_trigger_and_a_parameter_for_each_input_binding() -> None:
    for name, (bindings, user_function) in FUNCTIONS.items():
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        assert len(triggers) == 1, name
        assert triggers[0]["direction"] == "IN"
        inputs = {b["name"] for b in bindings if b["direction"] == "IN"}
        outputs = [b for b in bindings if b["direction"] == "OUT"]
        # A queue output binding is a func.Out parameter the function sets.
        queued = {b["name"] for b in outputs if b["type"] == "queue"}
        assert set(inspect.signature(user_function).parameters) == inputs | queued, name
        if triggers[0]["type"] == "httpTrigger":  # the HttpResponse the function returns
            assert outputs == [{"direction": "OUT", "type": "http", "name": "$return"}], name
        elif name == "reconcile":  # the daily sweep's fan-out, one message per subscription
            assert outputs == [
                {
                    "direction": "OUT",
                    "type": "queue",
                    "name": "sweeps",
                    "queueName": "subscription-sweeps",
                    "connection": "AzureWebJobsStorage",
                }
            ], name
        else:
            assert outputs == [], name


def test_every_http_route_needs_a_function_key_and_answers_only_its_methods() -> None:
    routes = {
        name: (b["route"], sorted(b["methods"]), b["authLevel"])
        for name, (bindings, _) in FUNCTIONS.items()
        for b in bindings
        if b["type"] == "httpTrigger"
    }
    # authLevel "anonymous" would leave a route open to anyone reaching the endpoint (Learn,
    # "Azure Functions HTTP trigger", Authorization level); function needs a function key.
    assert routes == {
        "events_webhook": ("events", ["OPTIONS", "POST"], "FUNCTION"),  # CloudEvents handshake
        "health": ("health", ["GET"], "FUNCTION"),
        "findings": ("findings", ["GET"], "FUNCTION"),
    }


def test_timer_schedules_are_the_documented_settings_and_valid_ncrontab() -> None:
    defaults = {f"PHIGUARD_{n}": d for n, d, _ in SETTINGS_DOC}
    deployed = dict(
        re.findall(
            r"^\s*(PHIGUARD_\w+_SCHEDULE): '([^']*)'", (INFRA / "main.bicep").read_text(), re.M
        )
    )
    timers = {
        name: b
        for name, (bindings, _) in FUNCTIONS.items()
        for b in bindings
        if b["type"] == "timerTrigger"
    }
    assert set(timers) == {"reconcile", "outbox", "digest", "access_review", "evidence"}
    settings = set()
    for name, binding in timers.items():
        # %NAME% resolves an app setting (Learn, timer trigger, "schedule"); the host refuses to
        # index the function when the setting is missing, so every one has a documented default
        # that the deployment sets.
        match = re.fullmatch(r"%(PHIGUARD_[A-Z_]+_SCHEDULE)%", binding["schedule"])
        assert match, (name, binding["schedule"])
        setting = match.group(1)
        settings.add(setting)
        assert setting in defaults, setting
        assert _ncrontab_errors(defaults[setting]) == [], (setting, defaults[setting])
        assert deployed.get(setting) == defaults[setting], setting
        # runOnStartup true would run a sweep on every scale-out and restart (Learn: "should
        # rarely if ever be set to true, especially in production"); the monitor keeps a
        # schedule that a restart interrupted.
        assert binding["runOnStartup"] is False and binding["useMonitor"] is True, name
    assert settings == set(deployed)


def test_the_queue_trigger_reads_the_deployed_queue_through_the_host_storage_identity() -> None:
    [binding] = [
        b for b in FUNCTIONS["on_queued_resource_change"][0] if b["type"] == "queueTrigger"
    ]
    queue = binding["queueName"]
    # The host moves a message that failed maxDequeueCount times to "<queue>-poison" (Learn,
    # "Azure Queue storage trigger", Poison messages); both names must be valid queue names.
    assert QUEUE_NAME.match(queue) and QUEUE_NAME.match(f"{queue}-poison"), queue
    # "AzureWebJobsStorage" with an identity: AzureWebJobsStorage__accountName, and for a
    # user-assigned identity __credential managedidentity and __clientId (Learn, "Connecting
    # to host storage with an identity").
    assert binding["connection"] == "AzureWebJobsStorage"
    app = (INFRA / "modules" / "app.bicep").read_text()
    assert re.search(r"^\s*AzureWebJobsStorage__accountName: \w+", app, re.M)
    assert re.search(r"^\s*AzureWebJobsStorage__credential: 'managedidentity'", app, re.M)
    assert re.search(r"^\s*AzureWebJobsStorage__clientId: \w+", app, re.M)
    assert not re.search(r"^\s*AzureWebJobsStorage: ", app, re.M)  # no connection string


def test_requirements_name_the_functions_library_and_leave_the_worker_to_the_platform() -> None:
    """The Python worker (azure-functions-worker) is the platform's; pinning it in
    requirements.txt can conflict with the one the host runs. azure-functions is the library
    the decorators come from, so the remote build must install it."""
    names = {
        re.split(r"[=<>~!\[; ]", line.strip(), maxsplit=1)[0].lower()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert "azure-functions" in names
    assert "azure-functions-worker" not in names


def test_each_output_parameter_is_typed_as_the_worker_converts_it() -> None:
    """The Python worker resolves a function's annotations and refuses to load it when an
    output parameter's ``func.Out[T]`` is not a type the binding's converter writes (for a
    queue: str, bytes, QueueMessage or a typing list of them; ``list[str]`` is refused)."""
    import typing

    import azure.functions as func
    from azure.functions.queue import QueueMessageOutConverter

    checked = 0
    for name, (bindings, user_function) in FUNCTIONS.items():
        hints = typing.get_type_hints(user_function)
        for binding in bindings:
            if binding["direction"] != "OUT" or binding["type"] != "queue":
                continue
            hint = hints[binding["name"]]
            assert typing.get_origin(hint) is func.Out, (name, hint)
            (written,) = typing.get_args(hint)
            assert QueueMessageOutConverter.check_output_type_annotation(written), (name, hint)
            checked += 1
    assert checked == 1
    assert not QueueMessageOutConverter.check_output_type_annotation(list[str])
