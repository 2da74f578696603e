"""The Functions app's import: light (cold start) and free of dev-only code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_function_app_loads_no_sim_no_sdk_clients_and_no_catalog() -> None:
    probe = (
        "import json, sys, function_app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sim', 'checks') or m.startswith('azure.mgmt') or m.startswith('azure.data'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


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

    def logged(imports: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", probe.format(imports=imports)],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    assert "Request URL" in logged("")  # what the policy does at INFO on its own
    quiet = logged("import function_app\n")
    assert "Request URL" not in quiet and "warns" in quiet
