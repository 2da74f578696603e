"""Access-review benchmark: one weekly review of a generated directory.

Generates 100,000 role assignments over 1,000 resource groups (a third tagged PHI) in 4
subscriptions, held by 10,000 principals (8,000 users, 1,000 groups of up to 20 members, 1,000
service principals; 0.5% of assignments orphaned), serves them from the simulated tenant in its
own process (ARM + Graph), and runs the review (``shared.access.engine.run_weekly``, the timer's
engine) in a child process writing to a local directory. Figures:

* wall time of the review (read, judge, diff, write HTML / CSV / JSON), target ≤ 20 s, and
  the review process's CPU time (the wall time depends on what else runs on the machine);
* the review process's peak RSS (``ru_maxrss``), target ≤ 500 MB;
* ARM and Graph calls, by kind (paging: ARM lists of ``--page-size`` items, Graph pages of 999
  with ``$select``).

    python -m bench.access_review [--assignments 100000] [--scopes 1000] [--principals 10000]
                                  [--page-size 100] [--throttle]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def child(args: argparse.Namespace) -> None:
    """The review itself, alone in this process (its RSS is the review's)."""
    import resource

    from shared.access.engine import run_weekly
    from shared.access.store import LocalReviewStore
    from shared.config import Settings

    settings = Settings(
        arm_url=args.arm_url,
        ca_cert=args.ca_cert,
        graph_url=args.graph_url,
        subscriptions=tuple(args.subscriptions.split(",")),
    )
    started = time.perf_counter()
    outcome = run_weekly(settings, store=LocalReviewStore(Path(args.out)), week=args.week)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss
    sizes = {
        name: Path(where).stat().st_size
        for name, where in outcome.locations.items()
        if not name.startswith("local:")
    }
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "arm_calls": outcome.arm_calls,
                "graph_calls": outcome.graph_calls,
                "summary": outcome.summary,
                "file_bytes": sizes,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.access_review")
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--scopes", type=int, default=1_000)
    parser.add_argument("--principals", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--throttle", action="store_true", help="ARM read limits on")
    parser.add_argument(
        "--weeks",
        type=int,
        default=2,
        help="consecutive weekly reviews (the second one diffs against the first: the usual case)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("arm-url", "ca-cert", "graph-url", "subscriptions", "out", "week"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    from sim.estate import Estate
    from sim.estate.access import generated_access
    from sim.estate.files import save_estate
    from sim.fixture import spawned_sim

    started = time.perf_counter()
    generated = generated_access(args.assignments, args.scopes, args.principals)
    with tempfile.TemporaryDirectory(prefix="phiguard-bench-") as tmp:
        estate_file = Path(tmp) / "estate.json"
        save_estate(
            Estate(
                tenant_id="72f988bf-0000-4000-8000-00000000bench",
                subscriptions=generated.subscriptions,
                documents=generated.documents,
            ),
            estate_file,
        )
        print(
            f"generated {args.assignments:,} assignments over {args.scopes:,} scopes, "
            f"{args.principals:,} principals in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        extra = ["--page-size", str(args.page_size)]
        with spawned_sim(
            estate=str(estate_file),
            faults="throttle=on" if args.throttle else None,
            extra_args=extra,
            timeout=300,
        ) as sim:
            sim.admin("POST", "graph/directory", generated.directory)
            runs: list[dict[str, Any]] = []
            for index in range(args.weeks):
                sim.reset_counters()
                run = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [
                        sys.executable,
                        "-m",
                        "bench.access_review",
                        "--child",
                        "--arm-url",
                        sim.arm_url,
                        "--ca-cert",
                        sim.ca_cert,
                        "--graph-url",
                        sim.arm_url + "/graph",
                        "--subscriptions",
                        ",".join(sim.subscriptions),
                        "--out",
                        str(Path(tmp) / "out"),
                        "--week",
                        f"2026-W{40 + index:02d}",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if run.returncode != 0:
                    print(run.stderr[-3000:], file=sys.stderr)
                    return 1
                runs.append(json.loads(run.stdout.strip().splitlines()[-1]))
            counters = sim.counters()
            graph = sim.admin("GET", "graph")
    for index, figures in enumerate(runs):
        kind = "first review (nothing to diff)" if index == 0 else "next week (diff, trend)"
        print(
            f"week {index + 1}, {kind}: {figures['wall_s']} s wall (target <= 20; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores), {figures['cpu_s']} s CPU in "
            f"the review process, peak RSS {figures['peak_rss_mib']} MiB (target <= 500)"
        )
    figures = runs[-1]
    s = figures["summary"]
    print(
        f"ARM calls {figures['arm_calls']} (sim counted {counters['total']}: "
        f"{json.dumps(counters['by_type'])}); 429s {counters['by_status'].get('429', 0)}"
    )
    print(f"Graph calls {figures['graph_calls']} ({json.dumps(graph['by_route'])})")
    print(
        f"paths to PHI {s['paths']:,}, principals {s['principals']:,}, privileged "
        f"{s['privileged_paths']:,}, failing rules {s['failing_rules']}, failing subjects "
        f"{s['failing_subjects']:,}; files {json.dumps(figures['file_bytes'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
