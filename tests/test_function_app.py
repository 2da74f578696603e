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
