"""The Functions app's import: light (cold start) and free of dev-only code."""

from __future__ import annotations

import json

from tests.conftest import in_fresh_interpreter


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
