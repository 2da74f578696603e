"""``phiguard demo`` from start to end: what a newcomer sees after ``make demo``."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.cli import main

pytestmark = pytest.mark.slow


def test_the_demo_runs_and_shows_issues_cards_and_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("PHIGUARD_TEAMS_WEBHOOK_URL", "PHIGUARD_ISSUES_ROUTES", "PHIGUARD_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert main(["demo"]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "phiguard: error" not in captured.err + captured.out
    assert "1. Baseline sweep" in out and "2. Changes made as a user" in out
    assert "3. People hear about it" in out
    assert "now closed (completed) after the user's fix" in out
    assert "Teams card (Adaptive Card 1.5) for fix" in out
    assert "phiguard rollback" in out
    assert "announced: 1 Teams card and 1 email" in out  # the week's access review
    saved = list((tmp_path / ".demo").glob("email-*.html"))
    assert len(saved) == 1 and "<html" in saved[0].read_text().lower()
