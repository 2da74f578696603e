"""Catalog benchmark: the whole check catalog over a large synthetic estate, on one core.

Prints resources/s for evaluation alone (against the 5,000/s target, as a ratio) and the
process's max RSS before and after evaluating.

    python -m bench.catalog [--resources 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time

from shared.engine import Engine
from shared.loader import load_documents

TARGET = 5_000


def main(argv: list[str] | None = None) -> int:
    from sim.estate import generated_estate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    estate = generated_estate(args.resources, 0, args.seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    snapshots = load_documents(((d, "bench") for d in estate.documents), complete=True)
    loaded = time.perf_counter() - started
    engine = Engine()
    supported = engine.supported_types()
    snapshots = [s for s in snapshots if s.type in supported]

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    findings = 0
    for snapshot in snapshots:
        findings += len(engine.evaluate(snapshot).findings)
    elapsed = time.perf_counter() - started
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rate = len(snapshots) / elapsed
    print(
        f"estate: {len(estate.documents):,} documents generated in {generated:.1f}s, "
        f"{len(snapshots):,} evaluable resources grouped in {loaded:.1f}s"
    )
    print(f"catalog: {len(engine.catalog)} checks, {findings:,} findings")
    print(
        f"evaluation: {rate:,.0f} resources/s on one core ({elapsed:.2f}s), "
        f"{rate / TARGET:.1f}x the {TARGET:,}/s target"
    )
    print(
        f"memory: max RSS {rss_mib:.0f} MiB with the estate loaded ({rss_before:.0f} MiB before "
        f"evaluating; findings are not kept, as the pipeline streams them to the store)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
