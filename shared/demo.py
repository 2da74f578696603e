"""``phiguard demo``: the product on the embedded sample tenant, no Azure account needed."""

from __future__ import annotations

import argparse

from rich.console import Console


def run_demo(console: Console, args: argparse.Namespace) -> int:
    from shared import report
    from shared.engine import Engine
    from shared.loader import load_documents
    from sim.estate import demo_estate

    estate = demo_estate()
    snapshots = load_documents(((d, "demo-estate") for d in estate.documents), complete=True)
    console.rule("[bold]phiguard demo — Contoso Health Shop (simulated tenant)")
    evaluations = Engine().evaluate_all(snapshots)
    report.render_evaluations(console, evaluations, title="Baseline evaluation")
    return 0
