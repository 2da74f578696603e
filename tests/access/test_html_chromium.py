"""The access review's HTML opened in headless Chromium (Debian's ``chromium``): it renders
(charts and tables are in the DOM), its script runs, the console stays silent, and a
screenshot is saved for a person to look at (``.test-artifacts/access-review.png``, or
``$PHIGUARD_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.access.engine import run_weekly
from shared.access.store import LocalReviewStore
from shared.config import Settings
from sim.fixture import running_sim

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium is not installed (apt-get install -y chromium): the rendering "
    "test needs a real browser",
)
CONSOLE = re.compile(r":CONSOLE(?::\d+)?\]\s*(.*)")


def _chromium(url: str, *args: str) -> tuple[str, list[str]]:
    assert CHROMIUM is not None
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    console = [m.group(1) for line in run.stderr.splitlines() if (m := CONSOLE.search(line))]
    return run.stdout, console


def test_the_console_detector_sees_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>missingFunction();</script></body></html>")
    _, console = _chromium(page.as_uri(), "--dump-dom")
    assert any("missingFunction" in line for line in console)


def test_report_renders_in_chromium_without_console_errors(tmp_path: Path) -> None:
    with running_sim(estate="demo") as sim:
        settings = Settings(graph_url=sim.graph_url, **sim.settings_kwargs())
        store = LocalReviewStore(tmp_path)
        run_weekly(settings, store=store, week="2026-W48")
        outcome = run_weekly(settings, store=store, week="2026-W49")
    html = Path(outcome.locations["access-review.html"])
    dom, console = _chromium(html.as_uri(), "--dump-dom")
    assert console == [], console
    assert 'data-sortable="ready"' in dom  # the inline script ran
    assert dom.count("<svg") == 4 and "<polyline" in dom and "<rect" in dom
    assert "access_phi_no_guest_access" in dom and "Sign-off" in dom
    artifacts = Path(os.environ.get("PHIGUARD_TEST_ARTIFACTS") or REPO / ".test-artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "access-review.png"
    shot.unlink(missing_ok=True)
    _, console = _chromium(html.as_uri(), f"--screenshot={shot}", "--window-size=1400,2400")
    assert console == [], console
    assert shot.is_file() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
