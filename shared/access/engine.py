"""One weekly access review, the same for the timer function and ``phiguard access-review``:
read (ARM + Graph) → judge (the rules) → diff against the last review kept → write the three
files (and a small ``summary.json`` the trend reads) to the store → a summary to announce.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.access.report import build_review, parse_week, previous_index, to_csv, to_html, week_of
from shared.access.rules import ReviewContext, run_rules

if TYPE_CHECKING:
    from shared.access.graph import GraphClient
    from shared.access.store import ReviewStore
    from shared.arm import ArmReader
    from shared.config import Settings

log = logging.getLogger("phiguard.access")
FILES = ("access-review.html", "access-review.csv", "access-review.json")
TREND_WEEKS = 12


@dataclass
class ReviewOutcome:
    week: str
    summary: dict[str, Any]
    locations: dict[str, str]  # file name → where it was written
    review: dict[str, Any] = field(repr=False)
    arm_calls: int = 0
    graph_calls: int = 0

    @property
    def html(self) -> str:
        return self.locations.get("access-review.html", "")


def announcement(outcome: ReviewOutcome) -> dict[str, Any]:
    """What a notification says about a review: the counts and where the report is (for the
    Teams card and the email of shared/notify, issue 11). Metadata only."""
    s = outcome.summary
    return {
        "title": f"Weekly access review {outcome.week}",
        "week": outcome.week,
        "counts": {
            k: s[k]
            for k in (
                "paths",
                "principals",
                "privileged_paths",
                "standing_privileged",
                "new",
                "removed",
                "failing_rules",
                "failing_subjects",
                "unknowns",
            )
        },
        "missing_permissions": list(s["missing_permissions"]),
        "link": outcome.html,
        "files": dict(outcome.locations),
    }


INDEX = "paths-index.json"
INDEX_FIELDS = ("principal_id", "principal_name", "role", "scope", "access", "via_group")


def path_index(review: dict[str, Any]) -> bytes:
    """The week's paths as next week's diff needs them, and nothing else (a 100,000-path review
    JSON is ~70 MB; reading it back would double the review's memory)."""
    rows = [[p["key"], *(p.get(f) for f in INDEX_FIELDS)] for p in review["paths"]]
    return json.dumps({"week": review["week"], "fields": INDEX_FIELDS, "paths": rows}).encode()


def _read_index(raw: bytes) -> dict[str, dict[str, Any]] | None:
    try:
        body = json.loads(raw)
        fields = list(body["fields"])
        return {str(row[0]): dict(zip(fields, row[1:], strict=True)) for row in body["paths"]}
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _previous(
    store: ReviewStore, week: str
) -> tuple[str | None, dict[str, dict[str, Any]] | None, list[dict[str, Any]]]:
    """The latest review before ``week``: its week and its paths by key; and the trend points
    of up to 11 weeks before it."""
    earlier = [w for w in store.weeks() if w < week]
    trend: list[dict[str, Any]] = []
    for w in earlier[-(TREND_WEEKS - 1) :]:
        raw = store.read(w, "summary.json")
        if raw:
            try:
                point = json.loads(raw).get("trend_point")
            except ValueError:
                continue
            if isinstance(point, dict):
                trend.append(point)
    for w in reversed(earlier):
        raw = store.read(w, INDEX)
        index = _read_index(raw) if raw is not None else None
        if index is None:  # a week without an index: its full JSON
            raw = store.read(w, "access-review.json")
            try:
                body = json.loads(raw) if raw is not None else None
            except ValueError:
                body = None
            index = previous_index(body) if isinstance(body, dict) else None
        if index is None:
            log.warning("access review %s: unreadable; not diffed against", w)
            continue
        return w, index, trend
    return None, None, trend


def run_review(
    arm: ArmReader,
    graph: GraphClient | None,
    store: ReviewStore,
    *,
    subscriptions: Sequence[str],
    settings: Settings,
    now: datetime,
    week: str | None = None,
    extra: Sequence[ReviewStore] = (),
) -> ReviewOutcome:
    from shared.access.reader import read_review

    week = parse_week(week) if week else week_of(now)
    arm_before = arm.stats.calls
    graph_before = graph.counts.calls if graph is not None else 0
    data = read_review(
        arm,
        graph,
        subscriptions,
        settings.phi_scope(),
        self_app_ids=[i for i in (settings.identity_app_id,) if i],
    )
    previous_week, data.previous, trend = _previous(store, week)
    ctx = ReviewContext(now=now, inactive_days=settings.access_review_inactive_days)
    results = run_rules(data, ctx)
    review = build_review(data, results, ctx, week, trend)
    if previous_week is not None:
        review["previous_week"] = previous_week
    review["coverage"] = {
        "grants_read": len(data.grants),
        "role_definitions": len(data.roles),
        "phi_vaults": len(data.vaults),
        "directory_objects": len(data.directory.principals),
        "groups_expanded": len(data.directory.members),
        "arm_calls": arm.stats.calls - arm_before,
        "graph_calls": (graph.counts.calls - graph_before) if graph is not None else 0,
    }
    # Each file is made, written and let go before the next (a 100,000-path review's JSON and
    # CSV are tens of MB each).
    producers: dict[str, Callable[[], bytes]] = {
        "access-review.json": lambda: json.dumps(review, separators=(",", ":")).encode(),
        "access-review.csv": lambda: to_csv(review).encode("utf-8"),
        "access-review.html": lambda: to_html(review).encode("utf-8"),
        INDEX: lambda: path_index(review),
        "summary.json": lambda: json.dumps(
            {"week": week, "summary": review["summary"], "trend_point": review["trend"][-1]}
        ).encode(),
    }
    locations: dict[str, str] = {}
    for name, produce in producers.items():
        payload = produce()
        where = store.write(week, name, payload)
        if name in FILES:
            locations[name] = where
        for copy in extra:
            copied = copy.write(week, name, payload)
            if name in FILES:
                locations[f"local:{name}"] = copied
        del payload
    outcome = ReviewOutcome(
        week,
        review["summary"],
        locations,
        review,
        arm_calls=arm.stats.calls - arm_before,
        graph_calls=(graph.counts.calls - graph_before) if graph is not None else 0,
    )
    log.info(
        "access review %s: %d paths, %d failing rules, %d unknowns",
        week,
        outcome.summary["paths"],
        outcome.summary["failing_rules"],
        outcome.summary["unknowns"],
    )
    return outcome


def clients(settings: Settings) -> tuple[ArmReader, GraphClient]:
    """The ARM reader and the Graph client of a review, from the settings."""
    from shared.access.graph import GraphClient
    from shared.arm import ArmReader
    from shared.credentials import arm_credential, graph_credential

    arm = ArmReader.from_settings(settings, arm_credential(settings)).patient()
    graph = GraphClient(
        settings.graph_url,
        graph_credential(settings),
        ca_cert=settings.ca_cert,
        max_retries=settings.arm_max_retries,
        retry_budget_seconds=settings.arm_retry_budget_seconds,
        timeout_seconds=settings.arm_timeout_seconds,
    )
    return arm, graph


def subscriptions_of(arm: ArmReader, settings: Settings) -> list[str]:
    """The configured subscriptions, else every subscription the identity can see."""
    if settings.subscriptions:
        return list(settings.subscriptions)
    from shared.kernel import api_versions

    version = api_versions.for_type("microsoft.resources/subscriptions")
    return [
        str(s["subscriptionId"])
        for s in arm.list_items("/subscriptions", version, "subscriptions")
        if isinstance(s.get("subscriptionId"), str)
    ]


def run_weekly(
    settings: Settings,
    *,
    week: str | None = None,
    store: ReviewStore | None = None,
    extra: Sequence[ReviewStore] = (),
    now: datetime | None = None,
) -> ReviewOutcome:
    """One review with the clients and the Blob store built from the settings."""
    from shared.access.store import BlobReviewStore
    from shared.kernel.clock import utcnow

    arm, graph = clients(settings)
    try:
        return run_review(
            arm,
            graph,
            store if store is not None else BlobReviewStore.from_settings(settings),
            subscriptions=subscriptions_of(arm, settings),
            settings=settings,
            now=now or utcnow(),
            week=week,
            extra=extra,
        )
    finally:
        arm.close()
        graph.close()
