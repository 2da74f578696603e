"""A recorded burst of user changes as an Event Grid trace (the replay benchmark's input).

:func:`plan_burst` picks resources of a generated estate and the changes a burst makes to them
(PATCHes of storage accounts, key vaults and web apps; PUTs of NSG ``securityRules``, which ARM
reports as child-resource events; creates, which ARM reports with two write events; deletes).
:func:`record_burst` makes them through the simulated tenant's "change as a user" admin call
and returns the events the tenant emitted to its NDJSON sink. :func:`imitate_event_grid` then
adds redeliveries and local reordering, and :func:`batches` cuts the result into deliveries the
way Event Grid does (at-least-once, unordered, in batches).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.estate import Estate
from sim.fixture import SimHandle

STORAGE = "microsoft.storage/storageaccounts"
VAULT = "microsoft.keyvault/vaults"
SITE = "microsoft.web/sites"
NSG = "microsoft.network/networksecuritygroups"
DISK = "microsoft.compute/disks"

API = {
    STORAGE: "2025-01-01",
    VAULT: "2024-11-01",
    SITE: "2024-04-01",
    NSG: "2024-05-01",
    DISK: "2024-03-02",
}


@dataclass(frozen=True)
class Change:
    """One ARM call made as a user; ``resource`` is the resource whose checks it affects."""

    method: str
    path: str
    body: dict[str, Any] | None
    api_version: str
    resource: str
    kind: str  # "patch", "rule", "create", "delete"


@dataclass(frozen=True)
class BurstMix:
    """How many resources get which script of changes (see :func:`plan_burst`)."""

    storage: int = 80  # 4 PATCHes each
    vaults: int = 40  # 4 PATCHes each
    sites: int = 40  # 4 PATCHes each
    nsgs: int = 40  # 5 PUTs of security rules each
    creates: int = 40  # a create (two write events) and 2 follow-up changes each
    deletes: int = 30  # 0-2 PATCHes then a DELETE

    @property
    def resources(self) -> int:
        return self.storage + self.vaults + self.sites + self.nsgs + self.creates + self.deletes

    def scaled(self, factor: float) -> BurstMix:
        return BurstMix(
            *(max(1, round(getattr(self, f) * factor)) for f in self.__dataclass_fields__)
        )


def _of_type(estate: Estate, rtype: str) -> list[dict[str, Any]]:
    return [d for d in estate.documents if str(d.get("type", "")).lower() == rtype]


def _storage_patch(rng: random.Random, step: int) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"properties": {"minimumTlsVersion": rng.choice(["TLS1_0", "TLS1_2"])}},
        {"properties": {"allowBlobPublicAccess": rng.random() < 0.5}},
        {"properties": {"supportsHttpsTrafficOnly": rng.random() < 0.7}},
        {"tags": {"burst": str(step), "owner": rng.choice(["dana", "riley", "sam"])}},
        {"properties": {"networkAcls": {"defaultAction": rng.choice(["Allow", "Deny"])}}},
    ]
    return rng.choice(options)


def _vault_patch(rng: random.Random, step: int) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"properties": {"publicNetworkAccess": rng.choice(["Enabled", "Disabled"])}},
        {"properties": {"networkAcls": {"defaultAction": rng.choice(["Allow", "Deny"])}}},
        {"tags": {"burst": str(step)}},
        {"properties": {"enableRbacAuthorization": rng.random() < 0.8}},
    ]
    return rng.choice(options)


def _site_patch(rng: random.Random, step: int) -> dict[str, Any]:
    options: list[dict[str, Any]] = [
        {"properties": {"httpsOnly": rng.random() < 0.6}},
        {"properties": {"clientCertEnabled": rng.random() < 0.5}},
        {"tags": {"burst": str(step)}},
        {"properties": {"publicNetworkAccess": rng.choice(["Enabled", "Disabled"])}},
    ]
    return rng.choice(options)


def _rule_body(rng: random.Random, priority: int) -> dict[str, Any]:
    return {
        "properties": {
            "protocol": "Tcp",
            "sourceAddressPrefix": rng.choice(["Internet", "*", "10.0.0.0/8", "VirtualNetwork"]),
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": rng.choice(["22", "3389", "443", "8080"]),
            "access": rng.choice(["Allow", "Deny"]),
            "priority": priority,
            "direction": "Inbound",
        }
    }


def _new_storage_body(location: str, rng: random.Random) -> dict[str, Any]:
    return {
        "location": location,
        "kind": "StorageV2",
        "sku": {"name": "Standard_ZRS"},
        "tags": {"created-by": "burst"},
        "properties": {
            "minimumTlsVersion": rng.choice(["TLS1_0", "TLS1_2"]),
            "allowBlobPublicAccess": False,
            "supportsHttpsTrafficOnly": True,
            "publicNetworkAccess": "Disabled",
        },
    }


def _group_of(resource_id: str) -> str:
    return resource_id.split("/providers/", 1)[0]


def plan_burst(estate: Estate, mix: BurstMix, seed: int = 0) -> list[list[Change]]:
    """Per resource, the ordered changes the burst makes to it (one list per resource)."""
    rng = random.Random(seed)
    storage = _of_type(estate, STORAGE)
    vaults = _of_type(estate, VAULT)
    sites = _of_type(estate, SITE)
    nsgs = _of_type(estate, NSG)
    # Not OS disks: a user deletes a spare data disk, not one a VM boots from.
    disks = [d for d in _of_type(estate, DISK) if not str(d.get("name", "")).endswith("-os")]
    rng.shuffle(storage)
    needed = mix.storage + mix.deletes // 2
    if (
        len(storage) < needed
        or len(vaults) < mix.vaults
        or len(sites) < mix.sites
        or len(nsgs) < mix.nsgs
        or len(disks) < mix.deletes - mix.deletes // 2
    ):
        raise ValueError(
            f"the estate is too small for this burst: {len(storage)} storage accounts (need "
            f"{needed}), {len(vaults)} vaults ({mix.vaults}), {len(sites)} sites ({mix.sites}), "
            f"{len(nsgs)} NSGs ({mix.nsgs}), {len(disks)} disks"
        )
    scripts: list[list[Change]] = []
    step = 0

    def patch(doc: dict[str, Any], rtype: str, body: dict[str, Any]) -> Change:
        return Change("PATCH", str(doc["id"]), body, API[rtype], str(doc["id"]), "patch")

    for doc in storage[: mix.storage]:
        scripts.append([patch(doc, STORAGE, _storage_patch(rng, step + i)) for i in range(4)])
        step += 4
    for doc in rng.sample(vaults, mix.vaults):
        scripts.append([patch(doc, VAULT, _vault_patch(rng, step + i)) for i in range(4)])
        step += 4
    for doc in rng.sample(sites, mix.sites):
        scripts.append([patch(doc, SITE, _site_patch(rng, step + i)) for i in range(4)])
        step += 4
    for doc in rng.sample(nsgs, mix.nsgs):
        nsg_id = str(doc["id"])
        script = []
        for i in range(5):
            name = f"burst-rule-{i % 3}"  # creates and updates of child resources
            script.append(
                Change(
                    "PUT",
                    f"{nsg_id}/securityRules/{name}",
                    _rule_body(rng, 400 + i % 3),
                    API[NSG],
                    nsg_id,
                    "rule",
                )
            )
        scripts.append(script)
    groups = sorted({_group_of(str(d["id"])) for d in storage})
    locations = {_group_of(str(d["id"])): str(d.get("location", "eastus2")) for d in storage}
    for i in range(mix.creates):
        group = rng.choice(groups)
        if i % 2 == 0:
            rid = f"{group}/providers/Microsoft.Storage/storageAccounts/stburst{seed % 100:02d}{i:04d}"
            script = [
                Change(
                    "PUT",
                    rid,
                    _new_storage_body(locations[group], rng),
                    API[STORAGE],
                    rid,
                    "create",
                ),
                Change("PATCH", rid, _storage_patch(rng, step), API[STORAGE], rid, "patch"),
                Change("PATCH", rid, _storage_patch(rng, step + 1), API[STORAGE], rid, "patch"),
            ]
        else:
            rid = f"{group}/providers/Microsoft.Network/networkSecurityGroups/nsg-burst-{i:04d}"
            script = [
                Change(
                    "PUT",
                    rid,
                    {"location": locations[group], "properties": {"securityRules": []}},
                    API[NSG],
                    rid,
                    "create",
                ),
                *(
                    Change(
                        "PUT",
                        f"{rid}/securityRules/burst-rule-{k}",
                        _rule_body(rng, 500 + k),
                        API[NSG],
                        rid,
                        "rule",
                    )
                    for k in range(2)
                ),
            ]
        step += 3
        scripts.append(script)
    doomed_storage = storage[mix.storage : mix.storage + mix.deletes // 2]
    for doc in doomed_storage:
        before = [
            patch(doc, STORAGE, _storage_patch(rng, step + k)) for k in range(rng.randint(0, 2))
        ]
        step += 2
        rid = str(doc["id"])
        scripts.append([*before, Change("DELETE", rid, None, API[STORAGE], rid, "delete")])
    for doc in rng.sample(disks, mix.deletes - mix.deletes // 2):
        rid = str(doc["id"])
        scripts.append([Change("DELETE", rid, None, API[DISK], rid, "delete")])
    return scripts


def interleave(scripts: Sequence[Sequence[Change]], seed: int = 0) -> list[tuple[int, Change]]:
    """One global order of every change, each resource's changes in their order, resources mixed
    at random: ``(script index, change)``."""
    rng = random.Random(seed + 1)
    slots = [i for i, script in enumerate(scripts) for _ in script]
    rng.shuffle(slots)
    positions = [0] * len(scripts)
    order: list[tuple[int, Change]] = []
    for index in slots:
        order.append((index, scripts[index][positions[index]]))
        positions[index] += 1
    return order


@dataclass
class Burst:
    changes: int
    resources: int
    seconds: float
    statuses: dict[int, int]
    events: list[dict[str, Any]]


def record_burst(
    sim: SimHandle,
    events_file: Path,
    scripts: Sequence[Sequence[Change]],
    *,
    threads: int = 4,
    seed: int = 0,
) -> Burst:
    """Makes the changes (``threads`` users at once, each resource's changes by one of them, in
    order) and collects the events the tenant emitted to ``events_file``."""
    order = interleave(scripts, seed)
    lanes: list[list[Change]] = [[] for _ in range(max(1, threads))]
    for index, change in order:
        lanes[index % len(lanes)].append(change)
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(lane: list[Change]) -> None:
        for change in lane:
            answer = sim.change_as_user(
                change.method, change.path, change.body, api_version=change.api_version
            )
            status = int(answer["status"])
            if status >= 400:
                raise RuntimeError(
                    f"{change.method} {change.path}: {status} {json.dumps(answer.get('body'))}"
                )
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    events_file.write_text("")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        for future in [pool.submit(run, lane) for lane in lanes]:
            future.result()
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # long-running operations (creates, deletes) finish on the sim's ticker
    sim.wait_for_events(30)
    events = read_ndjson(events_file)
    return Burst(
        changes=len(order),
        resources=len({c.resource.lower() for script in scripts for c in script}),
        seconds=seconds,
        statuses=statuses,
        events=events,
    )


def imitate_event_grid(
    events: Sequence[dict[str, Any]],
    *,
    duplicate_share: float = 0.1,
    window: int = 20,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """At-least-once and unordered: ``duplicate_share`` of the events delivered a second time,
    1 to 3 windows later, then every window of ``window`` events shuffled."""
    rng = random.Random(seed + 2)
    slots: list[tuple[float, int, dict[str, Any]]] = [
        (float(i), 0, e) for i, e in enumerate(events)
    ]
    for i in rng.sample(range(len(events)), round(len(events) * duplicate_share)):
        slots.append((i + rng.uniform(1, 3 * window), 1, events[i]))
    slots.sort(key=lambda s: (s[0], s[1]))
    ordered = [s[2] for s in slots]
    out: list[dict[str, Any]] = []
    for start in range(0, len(ordered), window):
        chunk = ordered[start : start + window]
        rng.shuffle(chunk)
        out.extend(chunk)
    return out


def batches(
    events: Sequence[dict[str, Any]], *, smallest: int = 1, largest: int = 50, seed: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """Deliveries of ``smallest``..``largest`` events, in trace order."""
    rng = random.Random(seed + 3)
    start = 0
    while start < len(events):
        size = rng.randint(smallest, largest)
        yield list(events[start : start + size])
        start += size


def write_ndjson(events: Sequence[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
