"""The ARM reader: GET a resource and exactly the related documents its checks need.

Reads go through :class:`~shared.arm.client.ArmClient` (its first attempt lean, retries through
azure-core's pipeline: bearer token, ``Retry-After`` honoured; see ``ArmClient.read``) rather
than the per-service management SDKs, so reading any
resource type costs one light import: cold start is a product feature (README "Benchmarks", bench/cold_start.py). A 404 means
the resource is gone; 429/5xx/connection errors are retried within a bounded budget and then
raised as :class:`~shared.arm.client.TransientArmError` so Event Grid redelivers the event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from shared.arm.client import ArmConnection, ArmError, ArmUser
from shared.arm.throttle import READ_REFILL_PER_SECOND, ThrottleGates
from shared.kernel import api_versions
from shared.kernel.related import RELATED, flow_log_targets, subscription_lists
from shared.kernel.resource_id import normalize, parse
from shared.kernel.snapshot import Snapshot

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.engine import Engine
    from shared.http import RequestCounts

SWEEP_MAX_RETRIES = 20
SWEEP_RETRY_BUDGET_SECONDS = 600.0
# How long the sweep's reader keeps a cross-resource list (shared.kernel.related
# subscription_lists): longer than any sweep, far shorter than the day between sweeps.
SWEEP_LIST_CACHE_SECONDS = 6 * 3600.0

# The error codes of a 404 that means the resource is gone (a missing resource group or
# subscription too); any other 404 is ARM refusing the path.
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFound",
        "ResourceGroupNotFound",
        "NotFound",
        "SubscriptionNotFound",
        "ParentResourceNotFound",
        "",
    }
)


@dataclass
class _Cached:
    value: Any
    expires: float


RESOURCE_GROUPS_VERSION = api_versions.for_type("microsoft.resources/resourcegroups")


def resource_groups_path(subscription: str) -> str:
    return f"/subscriptions/{subscription}/resourcegroups"


def groups_by_id(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {normalize(str(g["id"])): g for g in items if isinstance(g.get("id"), str)}


class ArmReader(ArmUser):
    """Reads resources through ARM. Thread-safe; build once per worker and reuse."""

    def __init__(
        self,
        arm_url: str,
        credential: TokenCredential,
        *,
        cache_seconds: float = 60,
        pace_reads: float | None = None,
        **connection: Unpack[ArmConnection],
    ) -> None:
        connection.setdefault("pool_size", 16)
        self.gates = ThrottleGates(pace_reads)
        super().__init__(arm_url, credential, gates=self.gates, **connection)
        self.cache_seconds = cache_seconds
        # Cross-resource lists: the sweep's reader keeps them for the whole sweep (see patient).
        self.list_cache_seconds = cache_seconds
        self.pace_reads = pace_reads
        self._cache: dict[str, _Cached] = {}
        self._cache_lock = threading.Lock()
        # Resource-group lists another read already made (the CLI's probe), taken once by
        # resource_groups(); shared with patient() siblings.
        self._primed_groups: dict[str, dict[str, Mapping[str, Any]]] = {}

    @property
    def stats(self) -> RequestCounts:
        """Requests sent, by kind (``resource``, ``list``, ``resource_group``, a related
        document's key, ...); shared with :meth:`patient` siblings."""
        return self.client.counts

    def patient(
        self,
        max_retries: int = SWEEP_MAX_RETRIES,
        retry_budget_seconds: float = SWEEP_RETRY_BUDGET_SECONDS,
    ) -> ArmReader:
        """A reader for the sweep: same endpoint, credential and counters, a larger retry budget,
        and reads paced to ARM's refill once its bucket is spent (see :class:`ThrottleGates`).

        An event's read that runs out of retries is redelivered by Event Grid within minutes; a
        sweep's read that gives up waits a day for the next sweep. A sweep of a large
        subscription spends most of its time throttled (ARM's 250-read burst, then 25 reads/s),
        so it waits out every ``Retry-After`` rather than giving up. Never less patient than
        this reader.
        """
        connection = self.connection.copy()
        connection["max_retries"] = max(max_retries, self.connection["max_retries"])
        connection["retry_budget_seconds"] = max(
            retry_budget_seconds, self.connection["retry_budget_seconds"]
        )
        sibling = ArmReader(
            self.arm_url,
            self._credential,
            cache_seconds=self.cache_seconds,
            pace_reads=self.pace_reads or READ_REFILL_PER_SECOND,
            **connection,
        )
        sibling.client.counts = self.client.counts
        sibling._primed_groups = self._primed_groups
        # One read per subscription and kind for a whole sweep (hours on a large tenant).
        sibling.list_cache_seconds = max(self.cache_seconds, SWEEP_LIST_CACHE_SECONDS)
        return sibling

    # --- raw calls -------------------------------------------------------------------------

    def get(self, path: str, api_version: str, kind: str = "resource") -> dict[str, Any] | None:
        """GET ``path``; None on 404. ``path`` is an id or an absolute nextLink."""
        absolute = path[:8].lower() == "https://"  # a nextLink (same_origin let it through)
        url = path if absolute else self.client.url(path, api_version)
        response = self.client.read(url, kind=kind)
        if response.status_code == 404:
            code, _ = self.client.error_detail(response)
            if code not in NOT_FOUND_CODES:
                raise ArmError(404, code, "unexpected 404", url)
            return None
        body = response.json()
        if not isinstance(body, dict):
            raise ArmError(response.status_code, "InvalidBody", "not a JSON object", url)
        return body

    def list_items(
        self, path: str, api_version: str, kind: str = "list"
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list call, following ``nextLink`` (only back to ARM)."""
        return self.items_from(self.get(path, api_version, kind), path, api_version, kind)

    def items_from(
        self, page: Mapping[str, Any] | None, path: str, api_version: str, kind: str = "list"
    ) -> Iterator[dict[str, Any]]:
        """Every item of the list at ``path`` whose first page was already read (None: it
        404ed), following ``nextLink`` (only back to ARM)."""
        while page is not None:
            items = page.get("value", [])
            if not isinstance(items, list):
                raise ArmError(200, "InvalidBody", "'value' is not a list", path)
            yield from (i for i in items if isinstance(i, dict))
            next_link = page.get("nextLink")
            if not isinstance(next_link, str) or not next_link:
                return
            link = self.client.same_origin(next_link, "InvalidNextLink", "nextLink")
            page, path = self.get(link, api_version, kind), link

    def _cached(self, key: str, load: Callable[[], Any], ttl: float | None = None) -> Any:
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit.expires > now:
                return hit.value
        value = load()
        with self._cache_lock:
            self._cache[key] = _Cached(value, now + (self.cache_seconds if ttl is None else ttl))
        return value

    # --- resources --------------------------------------------------------------------------

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        rtype = parse(resource_id).type
        return self.get(resource_id, api_versions.for_type(rtype))

    def resource_group(self, resource_id: str) -> Mapping[str, Any] | None:
        rg_id = parse(resource_id).resource_group_id
        if rg_id is None:
            return None
        return self._cached(  # type: ignore[no-any-return]
            "rg:" + normalize(rg_id),
            lambda: self.get(
                rg_id, api_versions.for_type("microsoft.resources/resourcegroups"), "resource_group"
            ),
        )

    def forget_resource_group(self, group_id: str) -> None:
        """Drops a cached resource group (its tags changed: PHI scope may have moved)."""
        with self._cache_lock:
            self._cache.pop("rg:" + normalize(group_id), None)

    def related(self, resource: Mapping[str, Any], key: str) -> Any:
        """One related document; None when ARM has none (an object document that 404s)."""
        doc = RELATED[key]
        rid = str(resource["id"])
        if doc.fetch == "subscription_scan":
            return self._flow_logs_for(resource)
        if doc.fetch == "subscription_list":
            return self._subscription_list(str(parse(rid).subscription), key)
        if doc.is_list:
            return list(self.list_items(rid + doc.path, doc.api_version, key))
        return self.get(rid + doc.path, doc.api_version, key)

    def _flow_logs_for(self, resource: Mapping[str, Any]) -> list[dict[str, Any]]:
        subscription = parse(str(resource["id"])).subscription
        logs: list[dict[str, Any]] = self._cached(
            f"flowlogs:{subscription}", lambda: self._all_flow_logs(str(subscription))
        )
        targets = flow_log_targets(resource)
        return [
            f
            for f in logs
            if isinstance(f.get("properties"), dict)
            and normalize(str(f["properties"].get("targetResourceId", ""))) in targets
        ]

    def _subscription_list(self, subscription: str, key: str) -> list[dict[str, Any]]:
        """A cross-resource read (:func:`shared.kernel.related.subscription_lists`): one list
        per subscription (and, with ``then``, one per listed item), cached like resource groups
        so a sweep reads it once; the checks pick what concerns their resource."""
        doc = RELATED[key]

        def load() -> list[dict[str, Any]]:
            path = f"/subscriptions/{subscription}{doc.path}"
            listed = self.list_items(path, doc.api_version, key)
            if not doc.then:
                return list(listed)
            return [
                item
                for parent_item in listed
                for item in self.list_items(f"{parent_item['id']}{doc.then}", doc.api_version, key)
            ]

        return self._cached(  # type: ignore[no-any-return]
            f"{key}:{subscription.lower()}", load, self.list_cache_seconds
        )

    def forget_subscription_lists(self, subscription: str) -> None:
        """Drops the cached cross-resource lists of a subscription (the event path calls it
        when one of their documents changed, so the next read sees the change)."""
        with self._cache_lock:
            for doc in subscription_lists():
                self._cache.pop(f"{doc.key}:{subscription.lower()}", None)

    def _all_flow_logs(self, subscription: str) -> list[dict[str, Any]]:
        version = RELATED["flow_logs"].api_version
        watchers = self.list_items(
            f"/subscriptions/{subscription}/providers/Microsoft.Network/networkWatchers",
            version,
            "flow_logs",
        )
        return [
            log
            for w in watchers
            for log in self.list_items(f"{w['id']}/flowLogs", version, "flow_logs")
        ]

    def resource_groups(self, subscription: str) -> dict[str, Mapping[str, Any]]:
        """Every resource group of a subscription by normalized id, in one list call per 100
        (the sweep's alternative to reading each group as its resources come up). A list
        handed over by :meth:`prime_resource_groups` is used once instead of listing again."""
        with self._cache_lock:
            primed = self._primed_groups.pop(subscription.lower(), None)
        if primed is not None:
            return primed
        return groups_by_id(
            self.list_items(
                resource_groups_path(subscription), RESOURCE_GROUPS_VERSION, "resource_group"
            )
        )

    def prime_resource_groups(
        self, subscription: str, groups: dict[str, Mapping[str, Any]]
    ) -> None:
        """Hands over a subscription's resource groups just listed elsewhere (the CLI's probe
        lists them to learn that ARM knows the subscription), so the next
        :meth:`resource_groups` of it costs no call."""
        with self._cache_lock:
            self._primed_groups[subscription.lower()] = groups

    def snapshot(
        self,
        resource_id: str,
        engine: Engine,
        resource: dict[str, Any] | None = None,
        group: Mapping[str, Any] | None = None,
        *,
        fresh_lists: bool = False,
    ) -> Snapshot | None:
        """The Snapshot for ``resource_id``, or None when the resource no longer exists.

        ``resource`` may carry a body already obtained from a list call (the sweep), saving the
        GET; ``group`` likewise the body of its resource group (read, or cached, when absent).
        ``fresh_lists`` (the event path) re-reads the cross-resource lists the resource's checks
        need instead of taking a cached copy (the sweep reads each once per subscription).
        """
        body = resource if resource is not None else self.resource(resource_id)
        if body is None:
            return None
        if group is None:
            group = self.resource_group(resource_id)
        bare = Snapshot(body, {}, group)
        phi = engine.phi_scope.is_phi(bare)
        needs = engine.needs_for(bare.type, phi)
        if fresh_lists and any(RELATED[k].fetch == "subscription_list" for k in needs):
            subscription = str(parse(resource_id).subscription)
            with self._cache_lock:
                for k in needs:
                    if RELATED[k].fetch == "subscription_list":
                        self._cache.pop(f"{k}:{subscription.lower()}", None)
        related: dict[str, Any] = {}
        for key in sorted(needs):
            value = self.related(body, key)
            if value is not None:
                related[key] = value
        # The scope decided on the body and group, which the related documents do not change.
        return Snapshot(body, related, group, phi)
