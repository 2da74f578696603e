"""host.json as the Functions host (runtime 4.x, extension bundle 4.x) reads it.

The constraints below are the ones host.json uses, restated from the published JSON schema
(SchemaStore, src/schemas/json/host.json, definition "version-2" - https://json.schemastore.org/
host.json) and the Learn pages named at each. The whole SchemaStore schema is not vendored: its
top level is ``oneOf`` of "version-2" and "version-2-ext-5", which agree on every property this
file uses, so any such host.json matches both and fails ``oneOf`` - a schema defect, not a
host.json one.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.conftest import REPO

HOST = json.loads((REPO / "host.json").read_text())

LEVELS = ["Critical", "Debug", "Error", "Information", "None", "Trace", "Warning"]
HHMMSS = "^(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d$"
TIMESPAN = "^[0-9][0-9]:[0-9][0-9]:[0-9][0-9](?:\\.[0-9]+)?$"

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["version"],
    "additionalProperties": False,
    "properties": {
        "version": {"enum": ["2.0"]},
        "functionTimeout": {
            "oneOf": [
                {"type": "string", "pattern": "^(-1|(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d)$"},
                {"enum": [None]},
            ]
        },
        "logging": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "fileLoggingMode": {"enum": ["never", "always", "debugOnly"]},
                "logLevel": {
                    "type": "object",
                    "properties": {"default": {"enum": LEVELS}},
                    "additionalProperties": {"enum": LEVELS},
                },
                "applicationInsights": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "samplingSettings": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "isEnabled": {"type": "boolean"},
                                "maxTelemetryItemsPerSecond": {"type": "integer"},
                                "evaluationInterval": {"pattern": HHMMSS},
                                "initialSamplingPercentage": {"type": "number"},
                                "minSamplingPercentage": {"type": "number"},
                                "maxSamplingPercentage": {"type": "number"},
                                "movingAverageRatio": {"type": "number"},
                                "excludedTypes": {"type": "string"},
                                "includedTypes": {"type": "string"},
                            },
                        },
                        "enableLiveMetrics": {"type": "boolean"},
                        "enableLiveMetricsFilters": {"type": "boolean"},
                        "enableDependencyTracking": {"type": "boolean"},
                        "enablePerformanceCountersCollection": {"type": "boolean"},
                    },
                },
            },
        },
        "extensions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "queues": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "maxPollingInterval": {"type": "string", "pattern": TIMESPAN},
                        "visibilityTimeout": {"type": "string", "pattern": TIMESPAN},
                        "batchSize": {"type": "integer", "minimum": 1, "maximum": 32},
                        "maxDequeueCount": {"type": "integer"},
                        "newBatchThreshold": {"type": "integer"},
                        "messageEncoding": {"type": "string", "enum": ["base64", "none"]},
                    },
                }
            },
        },
        "extensionBundle": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"id": {"type": "string"}, "version": {"type": "string"}},
        },
    },
}

# The sampling types Application Insights recognizes (Learn, "host.json reference for Azure
# Functions 2.x and later", logging.applicationInsights.samplingSettings.excludedTypes).
TELEMETRY_TYPES = {"Dependency", "Event", "Exception", "PageView", "Request", "Trace"}


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    )


def test_host_json_is_valid_for_the_published_schema() -> None:
    assert _errors(HOST) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("extensions", "queues", "batchSize"), 33),  # Learn: the maximum is 32
        (("extensions", "queues", "messageEncoding"), "utf8"),
        (("extensions", "queues", "visibilityTimeout"), "30s"),
        (("functionTimeout",), "6:00:00"),
        (("logging", "logLevel", "default"), "Info"),
        (("version",), "3.0"),
        (("queues",), {"batchSize": 16}),  # the 1.x place: 2.x nests it under extensions
    ],
)
def test_the_schema_refuses_what_the_host_would(path: tuple[str, ...], value: Any) -> None:
    document = json.loads(json.dumps(HOST))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(document) != []


def test_the_extension_bundle_is_the_4x_range_flex_consumption_requires() -> None:
    """Learn, "Azure Functions Flex Consumption plan hosting", Considerations: non-C# apps
    must use version [4.0.0, 5.0.0) of the extension bundle, or a later version; queue
    ``messageEncoding`` needs the storage extension 5.x that bundle 4.x carries."""
    bundle = HOST["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    match = re.fullmatch(r"\[(\d+)(?:\.\*|\.\d+\.\d+), *(\d+)\.0\.0\)", bundle["version"])
    assert match, bundle["version"]
    assert int(match.group(1)) >= 4 and int(match.group(2)) == int(match.group(1)) + 1


def test_the_function_timeout_is_one_the_deployed_plan_allows() -> None:
    """Learn, "Function app timeout duration": Consumption allows at most 10 minutes; Flex
    Consumption defaults to 30 minutes and is unbounded (with a 60-minute grace at scale-in).
    The 6-hour sweep bound holds only because the infra deploys Flex Consumption (FC1)."""
    app = (REPO / "infra" / "modules" / "app.bicep").read_text()
    assert re.search(r"sku: \{ name: 'FC1', tier: 'FlexConsumption' \}", app)
    hours, minutes, seconds = (int(p) for p in HOST["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds > 10 * 60  # would be refused on Consumption


def test_sampling_keeps_requests_and_exceptions_whole_by_their_documented_names() -> None:
    excluded = HOST["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]
    types = excluded.split(";")
    assert set(types) <= TELEMETRY_TYPES, types
    assert {"Request", "Exception"} <= set(types)


def test_queue_batches_stay_within_the_documented_limits() -> None:
    """Learn, Azure Queue storage trigger, host.json settings: batchSize at most 32;
    newBatchThreshold below batchSize (a new batch is fetched when fewer are in flight);
    visibilityTimeout is the wait between retries of a failed message; maxDequeueCount
    tries before the message moves to <queue>-poison."""
    queues = HOST["extensions"]["queues"]
    assert 1 <= queues["batchSize"] <= 32
    assert 0 <= queues["newBatchThreshold"] < queues["batchSize"]
    assert queues["maxDequeueCount"] >= 1
    # Event Grid writes the event to the queue as JSON text; "none" hands it over unchanged
    # (shared/api.queued_json also reads base64 of an event).
    assert queues["messageEncoding"] == "none"
