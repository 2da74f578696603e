"""Cold start: what importing the Functions app costs, beside importing every ARM SDK eagerly.

Each figure comes from a fresh interpreter (a subprocess), measured in the same run:

    python -m bench.cold_start [--repeat 5]

Target (issue #4): ``import function_app`` <= 0.4x the eager figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

EAGER_PACKAGES = (
    "azure.mgmt.resource",
    "azure.mgmt.network",
    "azure.mgmt.storage",
    "azure.mgmt.keyvault",
    "azure.mgmt.authorization",
    "azure.mgmt.monitor",
    "azure.identity",
    "azure.data.tables",
    "azure.functions",
)

_PROBE = """
import json, resource, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed,
                   "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _eager_body() -> str:
    # The clients, not just the packages: "from azure.mgmt.network import X" pulls in the models.
    return "\n".join(
        [
            "from azure.mgmt.resource.resources import ResourceManagementClient",
            "from azure.mgmt.network import NetworkManagementClient",
            "from azure.mgmt.storage import StorageManagementClient",
            "from azure.mgmt.keyvault import KeyVaultManagementClient",
            "from azure.mgmt.authorization import AuthorizationManagementClient",
            "from azure.mgmt.monitor import MonitorManagementClient",
            "import azure.identity, azure.data.tables, azure.functions",
            "import function_app",
        ]
    )


def measure(body: str, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", _PROBE.format(body=body)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "max_rss_mib": statistics.median(r["max_rss_mib"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    baseline = measure("pass", args.repeat)
    light = measure("import function_app", args.repeat)
    first = measure(
        "import function_app\nfrom shared.context import AppContext\n"
        "from shared.config import Settings\n"
        "ctx = AppContext(Settings.from_env({}))\nctx.engine\n"
        "from shared import events, pipeline, arm\nfrom shared.state import tables",
        args.repeat,
    )
    eager = measure(_eager_body(), args.repeat)

    def row(name: str, m: dict[str, float]) -> str:
        return (
            f"{name:<44} {m['seconds'] * 1000:8.0f} ms {m['max_rss_mib']:8.1f} MiB   "
            f"{(m['seconds'] - baseline['seconds']) / (eager['seconds'] - baseline['seconds']):.2f}x"
        )

    print(
        f"median of {args.repeat} fresh interpreters; ratio = import time over eager import time "
        "(interpreter start subtracted)"
    )
    print(f"{'':<44} {'wall':>11} {'max RSS':>12}   ratio")
    print(row("python -c pass (interpreter)", baseline))
    print(row("import function_app", light))
    print(row("+ engine, catalog and pipeline modules", first))
    print(row("eager: every ARM SDK client + function_app", eager))
    ratio = (light["seconds"] - baseline["seconds"]) / (eager["seconds"] - baseline["seconds"])
    print(f"import function_app / eager = {ratio:.2f} (target <= 0.40)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
