"""The replay benchmark runs end to end on a small estate and its figures come out (so the
benchmark cannot rot between the runs that produce the README's figures)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import replay


@pytest.mark.slow
@pytest.mark.parametrize("instances", [1, 2])
def test_a_small_replay_converges_and_prints_its_figures(
    instances: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = replay.main(
        [
            "--estate",
            "120",
            "--scale",
            "0.05",
            "--instances",
            str(instances),
            "--trace",
            str(tmp_path / "trace.ndjson"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"ARM reads: [\d,]+ GETs .* = [\d.]+ per event", out)
    assert re.search(r"throughput: [\d,]+ events in [\d.]+s = [\d,]+ events/s", out)
    converged = re.search(r"converged: (\d+)/(\d+) touched", out)
    assert converged is not None and converged.group(1) == converged.group(2), out
    assert (tmp_path / "trace.ndjson").stat().st_size > 0
