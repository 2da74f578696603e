"""phiguard, Prowler and Cloud Custodian side by side on the simulated tenant (issue 15).

    python -m bench.peers [--resources 8000 | --estate demo] [--throttle on|off|both]
                          [--cache DIR] [--skip-install] [--seed 0] [--timeout 900]

Installs Prowler and Cloud Custodian (pinned below) each in a venv of its own under ``--cache``
(default ``~/.cache/phiguard-peers``, reused when present: their pins clash with ours and with
each other; they are run as subprocesses, never imported). Starts Azurite and the simulated
tenant (its own process, a generated estate, the HTTPS proxy of :mod:`sim.proxy`), then runs
on the same subscriptions, with the matched checks of :data:`PAIRS`:

* Prowler, unmodified: ``prowler azure --managed-identity-auth --checks ...``, one run per
  service (storage, network, keyvault) so that one that fails or hangs (see
  :data:`PROWLER_KEYVAULT_HANG`) costs only its own verdicts;
* Cloud Custodian, unmodified: ``custodian run`` of a policy file written from :data:`PAIRS`
  (one run per subscription: ``AZURE_SUBSCRIPTION_ID``, ``AZURE_USE_MSI``);
* phiguard: ``phiguard scan --checks ... --output DIR`` with the state store (Azurite), and
  again with ``--no-store`` (report only) when the scan offers it.

The peers reach the sim by Azure's public host names through the proxy (``HTTPS_PROXY``, the
sim's CA in ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``) and sign in as the App Service managed
identity the sim serves (``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``); phiguard is pointed at the
sim's ARM URL by its settings. That is the only override.

Before the measured runs of each throttling mode, one phiguard scan with the store and one
Custodian run, not counted (``--no-warmup`` skips them): the first run after start-up, or after
Prowler's minutes of the previous mode, pays for Azurite's JIT and cold caches, and phiguard
runs first.

Per tool and throttling mode: wall time; CPU (the tool's user + system time, its child
processes included, from ``os.wait4``); ARM calls by kind from the sim's counters (reset before
each tool: GET of a list vs GET of one document vs POST, by type); 429s answered. Then a
verdict table per matched pair — resource → PASS / FAIL per tool — with every disagreement
printed beside the resource's relevant JSON (read from the sim's admin API, not counted) and,
where the rules of the tools say so, which tool is wrong and why. A tool that cannot run against
the sim is reported with its own error, and the others go on.

With ``--throttle on`` the sim enforces ARM's read limits (a bucket of 250 reads per
subscription and principal, refilled at 25/s; 429 + ``Retry-After`` beyond), with fresh buckets
for each tool. phiguard's pacing: its reader follows ARM's
``x-ms-ratelimit-remaining-subscription-reads`` and, once a subscription's bucket is spent,
spaces its reads to the 25/s refill; a 429's ``Retry-After`` holds back every read of that
subscription (``shared/arm/throttle.py``).

Tables are printed as plain text and written as JSON to ``.bench/peers-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.replay import cpu_seconds

REPO = Path(__file__).resolve().parent.parent
PROWLER_REQUIREMENTS = ("prowler==5.46.0",)
CUSTODIAN_REQUIREMENTS = ("c7n==0.9.53", "c7n-azure==0.7.52")
DEFAULT_CACHE = Path.home() / ".cache" / "phiguard-peers"
INTERNET_SOURCES = ("*", "Internet", "Any", "0.0.0.0/0")

PASS, FAIL, ABSENT = "PASS", "FAIL", "-"


@dataclass(frozen=True)
class Pair:
    """One rule as each tool spells it. A tool's verdict on a resource is FAIL when any of its
    checks fails, PASS when all pass, else the first other status (NOT_APPLICABLE, ...)."""

    name: str  # also the Custodian policy's name
    resource_type: str  # ARM type, lower case
    phiguard: tuple[str, ...]
    prowler: tuple[str, ...]
    custodian_resource: str
    custodian_filters: tuple[dict[str, Any], ...]  # a resource they match is a FAIL
    fields: tuple[str, ...]  # the properties the rule reads (shown beside a disagreement)
    differences: str  # where the tools' rules differ, from their code


def _value(key: str, op: str, value: Any) -> dict[str, Any]:
    return {"type": "value", "key": key, "op": op, "value": value}


PAIRS: tuple[Pair, ...] = (
    Pair(
        name="storage-secure-transfer",
        resource_type="microsoft.storage/storageaccounts",
        phiguard=("storage_account_secure_transfer_required",),
        prowler=("storage_secure_transfer_required_is_enabled",),
        custodian_resource="azure.storage",
        custodian_filters=(_value("properties.supportsHttpsTrafficOnly", "ne", True),),
        fields=("properties.supportsHttpsTrafficOnly",),
        differences="absent supportsHttpsTrafficOnly: phiguard PASS (true is ARM's default "
        "since 2019-04-01); Prowler (falsy) and Custodian (ne true) FAIL",
    ),
    Pair(
        name="storage-min-tls-1-2",
        resource_type="microsoft.storage/storageaccounts",
        phiguard=("storage_account_min_tls_1_2",),
        prowler=("storage_ensure_minimum_tls_version_12",),
        custodian_resource="azure.storage",
        custodian_filters=(_value("properties.minimumTlsVersion", "not-in", ["TLS1_2", "TLS1_3"]),),
        fields=("properties.minimumTlsVersion",),
        differences="TLS1_3: Prowler FAILs (it compares with 'TLS1_2' exactly), phiguard and "
        "Custodian PASS",
    ),
    Pair(
        name="storage-blob-public-access",
        resource_type="microsoft.storage/storageaccounts",
        phiguard=("storage_account_blob_public_access_disabled",),
        prowler=("storage_blob_public_access_level_is_disabled",),
        custodian_resource="azure.storage",
        custodian_filters=(_value("properties.allowBlobPublicAccess", "ne", False),),
        fields=("kind", "properties.allowBlobPublicAccess"),
        differences="absent allowBlobPublicAccess: phiguard and Custodian FAIL (anonymous access "
        "is permitted when it is null, per the Storage docs), Prowler PASS (falsy); FileStorage "
        "accounts: phiguard NOT_APPLICABLE",
    ),
    Pair(
        name="storage-network-default-deny",
        resource_type="microsoft.storage/storageaccounts",
        phiguard=("storage_account_public_network_access_restricted",),
        prowler=("storage_default_network_access_rule_is_denied",),
        custodian_resource="azure.storage",
        custodian_filters=(
            _value("properties.publicNetworkAccess", "ne", "Disabled"),
            _value("properties.networkAcls.defaultAction", "ne", "Deny"),
        ),
        fields=("properties.publicNetworkAccess", "properties.networkAcls.defaultAction"),
        differences="publicNetworkAccess Disabled with defaultAction Allow: phiguard and "
        "Custodian PASS (the public endpoint is off, the firewall default does not apply), "
        "Prowler FAILs (it reads defaultAction only)",
    ),
    Pair(
        name="nsg-management-ports-internet",
        resource_type="microsoft.network/networksecuritygroups",
        phiguard=("network_nsg_management_ports_internet_closed",),
        prowler=(
            "network_rdp_internet_access_restricted",
            "network_ssh_internet_access_restricted",
        ),
        custodian_resource="azure.networksecuritygroup",
        custodian_filters=(
            {
                "or": [
                    {
                        "type": "ingress",
                        "ports": "22,3389,5985-5986",
                        "match": "any",
                        "access": "Allow",
                        "source": source,
                    }
                    for source in INTERNET_SOURCES
                ]
            },
        ),
        fields=("properties.securityRules",),
        differences="Prowler has no WinRM (5985-5986) check and matches each rule alone on its "
        "sourceAddressPrefix string and one destinationPortRange (no priority order, no "
        "destinationPortRanges lists, no Internet-wide CIDRs but 0.0.0.0/0); phiguard evaluates "
        "Azure's first-match order over every rule",
    ),
    Pair(
        name="keyvault-recoverable",
        resource_type="microsoft.keyvault/vaults",
        phiguard=("keyvault_vault_purge_protection_enabled",),
        prowler=("keyvault_recoverable",),
        custodian_resource="azure.keyvault",
        custodian_filters=(
            {
                "or": [
                    _value("properties.enablePurgeProtection", "ne", True),
                    _value("properties.enableSoftDelete", "eq", False),
                ]
            },
        ),
        fields=("properties.enableSoftDelete", "properties.enablePurgeProtection"),
        differences="absent enableSoftDelete: phiguard and Custodian take soft delete as on (the "
        "API default; the opt-out was removed in February 2025), Prowler as off",
    ),
    Pair(
        name="keyvault-rbac",
        resource_type="microsoft.keyvault/vaults",
        phiguard=("keyvault_vault_rbac_authorization_enabled",),
        prowler=("keyvault_rbac_enabled",),
        custodian_resource="azure.keyvault",
        custodian_filters=(_value("properties.enableRbacAuthorization", "ne", True),),
        fields=("properties.enableRbacAuthorization",),
        differences="none known: all three FAIL unless enableRbacAuthorization is true",
    ),
)

# Peer checks in the list that have no phiguard check of the same meaning.
UNMATCHED: dict[str, str] = {
    "keyvault_key_expiration_set_in_non_rbac": "phiguard's keyvault_vault_keys_expiration_set "
    "judges every vault's enabled keys from ARM's key list; Prowler's judges only access-policy "
    "vaults, through the data plane (and hangs on 10+ vaults), so the verdicts are not one set",
    "network_http_internet_access_restricted": "phiguard judges HTTP(S) exposure only for PHI "
    "NSGs (network_nsg_phi_internet_inbound_denied), not port 80 on every NSG",
    "network_udp_internet_access_restricted": "no phiguard check of UDP alone",
}


# --- running a tool -------------------------------------------------------------------------


@dataclass
class Run:
    """One tool's run in one throttling mode."""

    tool: str
    throttle: str
    ok: bool = False
    error: str = ""
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    sim_cpu_seconds: float = 0.0
    azurite_cpu_seconds: float = 0.0
    arm_calls: int = 0
    throttled_429: int = 0
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    other_requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)  # pair → resource → status


@dataclass
class Finished:
    returncode: int
    wall: float
    cpu: float
    stdout: str
    stderr: str
    timed_out: bool


def run_measured(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float, log: Path
) -> Finished:
    """Runs a command in its own process group; wall time and the CPU of the process and its
    waited-for children (``os.wait4``). Output goes to files (no pipe to fill)."""
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - the pinned peers and our own interpreter
            list(args), stdout=out, stderr=err, cwd=cwd, env=dict(env), start_new_session=True
        )
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        except BaseException:
            # Interrupted (Ctrl-C): the tool runs in a session of its own, so take it down too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(
        returncode=proc.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        timed_out=timed_out,
    )


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n:])


EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception)\b[^:]*: ")  # a traceback's last line


def peer_errors(text: str, limit: int = 5) -> list[str]:
    """A peer's own error lines (distinct messages, first ones)."""
    seen: list[str] = []
    for line in text.splitlines():
        if "ERROR" in line or "error:" in line.lower() or EXCEPTION_LINE.match(line):
            message = line.split("ERROR:", 1)[-1].strip()
            # One line per distinct message: vault names and ids differ, the cause does not.
            shape = message.split("--", 1)[-1].strip()
            if all(shape not in s for s in seen):
                seen.append(message)
        if len(seen) >= limit:
            break
    return seen


# --- installing the peers -------------------------------------------------------------------


@dataclass
class Peer:
    name: str
    requirements: tuple[str, ...]
    executable: str
    venv: Path
    error: str = ""

    @property
    def bin(self) -> Path:
        return self.venv / "bin" / self.executable

    @property
    def stamp(self) -> Path:
        return self.venv / "phiguard-peers.txt"

    def installed(self) -> bool:
        return (
            self.bin.is_file()
            and self.stamp.is_file()
            and self.stamp.read_text(encoding="utf-8").split() == list(self.requirements)
        )


def install(peer: Peer, skip: bool) -> None:
    if peer.installed():
        print(f"  {peer.name}: {' '.join(peer.requirements)} (cached in {peer.venv})")
        return
    if skip:
        peer.error = f"not installed in {peer.venv} and --skip-install given"
        print(f"  {peer.name}: {peer.error}")
        return
    print(f"  {peer.name}: installing {' '.join(peer.requirements)} into {peer.venv} ...")
    started = time.perf_counter()
    if peer.venv.exists():
        shutil.rmtree(peer.venv)
    steps = [
        [sys.executable, "-m", "venv", str(peer.venv)],
        [str(peer.venv / "bin" / "pip"), "install", "-q", *peer.requirements],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            peer.error = f"{' '.join(step[-3:])} failed: {_last_lines(done.stderr, 3)}"
            print(f"  {peer.name}: {peer.error}")
            return
    peer.stamp.write_text("\n".join(peer.requirements) + "\n", encoding="utf-8")
    print(f"  {peer.name}: installed in {time.perf_counter() - started:.0f}s")


# --- the three tools ------------------------------------------------------------------------


@dataclass
class Bench:
    sim: Any  # sim.fixture.SimHandle
    azurite: Any  # sim.azurite.AzuriteEndpoints
    workdir: Path
    timeout: float
    universe: dict[str, list[str]]  # resource type → resource ids (the estate's)
    no_store_supported: bool

    def peer_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(self.sim.client_env())
        return env

    def measure(
        self, run: Run, args: Sequence[str], env: Mapping[str, str], cwd: Path
    ) -> Finished | None:
        """Runs one tool with fresh counters and fresh throttle buckets; fills the figures."""
        self.sim.set_faults("throttle=on" if run.throttle == "on" else "")
        self.sim.reset_counters()
        graph_before = Counter(self.sim.admin("GET", "graph")["by_route"])
        sim_cpu = cpu_seconds(self.sim.process.pid)
        azurite_cpu = cpu_seconds(self.azurite.pid)
        try:
            done = run_measured(args, env, cwd, self.timeout, cwd / run.tool)
        except OSError as exc:
            run.error = f"could not start {args[0]}: {exc}"
            return None
        run.sim_cpu_seconds = cpu_seconds(self.sim.process.pid) - sim_cpu
        run.azurite_cpu_seconds = cpu_seconds(self.azurite.pid) - azurite_cpu
        run.wall_seconds, run.cpu_seconds = done.wall, done.cpu
        counters = self.sim.counters()
        run.throttled_429 = int(counters["by_status"].get("429", 0))
        run.arm_calls = int(counters["total"]) - run.throttled_429
        run.calls_by_kind = dict(sorted(counters.get("by_call", {}).items()))
        graph = Counter(self.sim.admin("GET", "graph")["by_route"])
        graph.subtract(graph_before)
        run.other_requests = {f"graph {k}": n for k, n in graph.items() if n > 0}
        if done.timed_out:
            run.error = f"timed out after {self.timeout:.0f}s (killed)"
        return done


# Read in Prowler 5.46.0's keyvault_service.py: each vault is processed on the service's
# 10-worker pool, and each vault's key rotation-policy reads are submitted to that same pool and
# waited for. With 10 or more vaults whose data plane lists keys, every worker waits on work
# that cannot start: the run never ends. Shown when Prowler's Key Vault run times out.
PROWLER_KEYVAULT_HANG = (
    "Prowler 5.46.0's Key Vault service waits on its own full thread pool (10 workers; each "
    "vault's rotation-policy reads go to the pool the vaults run in) once 10 or more vaults list "
    "keys through the data plane"
)


def run_prowler(bench: Bench, peer: Peer, throttle: str) -> Run:
    """One Prowler run per service (storage, network, keyvault), figures summed: a service that
    fails or hangs costs only its own verdicts."""
    run = Run("prowler", throttle)
    if peer.error:
        run.error = peer.error
        return run
    services: dict[str, list[str]] = {}
    for check in sorted({c for pair in PAIRS for c in pair.prowler}):
        services.setdefault(check.split("_", 1)[0], []).append(check)
    by_check: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    calls: Counter[str] = Counter()
    for service, checks in services.items():
        cwd = bench.workdir / f"prowler-{throttle}-{service}"
        cwd.mkdir(parents=True, exist_ok=True)
        args = [
            str(peer.bin),
            "azure",
            "--managed-identity-auth",
            "--subscription-id",
            *bench.sim.subscriptions,
            "--checks",
            *checks,
            "--output-formats",
            "csv",
            "--output-directory",
            str(cwd / "out"),
            "--output-filename",
            "prowler",
            "--no-banner",
            "--no-color",
            "--ignore-exit-code-3",
            "--log-level",
            "ERROR",
        ]
        one = Run("prowler", throttle)
        done = bench.measure(one, args, bench.peer_env(), cwd)
        if done is not None and done.timed_out:
            # A hang is not the tool's speed: the killed run stays out of the figures.
            hint = f" ({PROWLER_KEYVAULT_HANG})" if service == "keyvault" else ""
            errors.append(f"{service}: {one.error}; not in the figures{hint}")
            run.warnings += peer_errors(done.stdout + "\n" + done.stderr)
            continue
        run.wall_seconds += one.wall_seconds
        run.cpu_seconds += one.cpu_seconds
        run.sim_cpu_seconds += one.sim_cpu_seconds
        run.azurite_cpu_seconds += one.azurite_cpu_seconds
        run.arm_calls += one.arm_calls
        run.throttled_429 += one.throttled_429
        calls.update(one.calls_by_kind)
        if done is None:
            errors.append(f"{service}: {one.error}")
            continue
        for line in peer_errors(done.stdout + "\n" + done.stderr):
            if line not in run.warnings:
                run.warnings.append(line)
        report = cwd / "out" / "prowler.csv"
        if not report.is_file():
            # Prowler writes no report when it has no finding: exit 0 and nothing judged (its
            # errors, printed above, say why); any other exit is a failure of the run.
            if done.returncode != 0:
                errors.append(
                    f"{service}: exit {done.returncode}, no report: "
                    + (_last_lines(done.stderr) or _last_lines(done.stdout))
                )
            continue
        with report.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter=";"):
                by_check.setdefault(row["CHECK_ID"], {})[row["RESOURCE_UID"].lower()] = row[
                    "STATUS"
                ]
    run.calls_by_kind = dict(sorted(calls.items()))
    run.verdicts = {p.name: combine(by_check, p.prowler) for p in PAIRS}
    run.error = "; ".join(errors)
    run.ok = not errors
    return run


def custodian_policies() -> dict[str, Any]:
    return {
        "policies": [
            {"name": p.name, "resource": p.custodian_resource, "filters": list(p.custodian_filters)}
            for p in PAIRS
        ]
    }


def run_custodian(bench: Bench, peer: Peer, throttle: str, tag: str = "") -> Run:
    """One ``custodian run`` per subscription (c7n-azure reads one from AZURE_SUBSCRIPTION_ID);
    the figures are summed over them. ``tag``: a run of its own folder and caches."""
    run = Run("custodian", throttle)
    if peer.error:
        run.error = peer.error
        return run
    cwd = bench.workdir / f"custodian-{throttle}{tag}"
    cwd.mkdir(parents=True, exist_ok=True)
    policy = cwd / "policies.json"
    policy.write_text(json.dumps(custodian_policies(), indent=2), encoding="utf-8")
    matched: dict[str, set[str]] = {p.name: set() for p in PAIRS}
    errors: list[str] = []
    calls: Counter[str] = Counter()
    for index, subscription in enumerate(bench.sim.subscriptions):
        env = bench.peer_env()
        env.update({"AZURE_USE_MSI": "1", "AZURE_SUBSCRIPTION_ID": subscription})
        out = cwd / f"out-{index}"
        # A cache file of this run's own: the policies of one run share their listings, as
        # they do for a user, and no run reuses another's.
        cache = cwd / f"c7n-{index}.cache"
        args = [str(peer.bin), "run", "--cache", str(cache), "-s", str(out), str(policy)]
        one = Run("custodian", throttle)
        done = bench.measure(one, args, env, cwd)
        run.wall_seconds += one.wall_seconds
        run.cpu_seconds += one.cpu_seconds
        run.sim_cpu_seconds += one.sim_cpu_seconds
        run.azurite_cpu_seconds += one.azurite_cpu_seconds
        run.arm_calls += one.arm_calls
        run.throttled_429 += one.throttled_429
        calls.update(one.calls_by_kind)
        if done is None or one.error:
            errors.append(one.error)
            continue
        for line in peer_errors(done.stderr):
            if line not in run.warnings:
                run.warnings.append(line)
        for pair in PAIRS:
            found = out / pair.name / "resources.json"
            if not found.is_file():
                errors.append(
                    f"{subscription}: policy {pair.name} wrote no resources.json (exit "
                    f"{done.returncode}): {_last_lines(done.stderr, 3)}"
                )
                continue
            resources = json.loads(found.read_text(encoding="utf-8"))
            matched[pair.name] |= {str(r["id"]).lower() for r in resources}
    run.calls_by_kind = dict(sorted(calls.items()))
    if errors:
        run.error = "; ".join(dict.fromkeys(errors))
        return run
    # Custodian reports the resources a policy matched; every other resource of the type passed.
    for pair in PAIRS:
        run.verdicts[pair.name] = {
            rid: FAIL if rid in matched[pair.name] else PASS
            for rid in bench.universe.get(pair.resource_type, [])
        }
    run.ok = True
    return run


def run_phiguard(bench: Bench, throttle: str, store: bool, tag: str = "") -> Run:
    """``tag``: a run of its own tables and folder (the warm-up's)."""
    run = Run("phiguard" if store else "phiguard --no-store", throttle)
    if not store and not bench.no_store_supported:
        run.error = "this phiguard's scan has no --no-store"
        return run
    checks = sorted({c for pair in PAIRS for c in pair.phiguard})
    cwd = bench.workdir / f"phiguard-{'store' if store else 'nostore'}-{throttle}{tag}"
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHIGUARD_", "AZURE_"))}
    env.update(
        {
            "PHIGUARD_ARM_URL": bench.sim.arm_url,
            "PHIGUARD_CA_CERT": bench.sim.ca_cert,
            "PHIGUARD_STORAGE_CONNECTION_STRING": bench.azurite.connection_string,
            "PHIGUARD_TABLE_PREFIX": f"peers{throttle}{'s' if store else 'n'}{tag}{os.getpid()}",
            "PHIGUARD_REMEDIATION_MODE": "off",  # the peers only read; so does phiguard here
            "PYTHONPATH": str(REPO),
        }
    )
    args = [sys.executable, "-m", "shared.cli", "scan", "--checks", ",".join(checks)]
    for subscription in bench.sim.subscriptions:
        args += ["--subscription", subscription]
    args += ["--output", str(cwd / "out"), "--output-formats", "json"]
    if not store:
        args.append("--no-store")
    done = bench.measure(run, args, env, cwd)
    if done is None:
        return run
    report = cwd / "out" / "phiguard-findings.json"
    if done.returncode not in (0, 1) or not report.is_file():
        run.error = run.error or f"exit {done.returncode}: {_last_lines(done.stderr, 3)}"
        if not report.is_file():
            return run
    by_check: dict[str, dict[str, str]] = {}
    for row in json.loads(report.read_text(encoding="utf-8")):
        by_check.setdefault(row["check_id"], {})[str(row["resource_id"]).lower()] = row["status"]
    run.verdicts = {p.name: combine(by_check, p.phiguard) for p in PAIRS}
    run.ok = not run.error
    return run


def combine(by_check: Mapping[str, Mapping[str, str]], checks: Sequence[str]) -> dict[str, str]:
    """Resource → verdict over several checks: FAIL if any fails, PASS if all pass, else the
    first other status."""
    resources = {rid for c in checks for rid in by_check.get(c, {})}
    out: dict[str, str] = {}
    for rid in resources:
        statuses = [by_check.get(c, {}).get(rid, ABSENT) for c in checks]
        if FAIL in statuses:
            out[rid] = FAIL
        elif all(s == PASS for s in statuses):
            out[rid] = PASS
        else:
            out[rid] = next(s for s in statuses if s != PASS)
    return out


# --- agreement ------------------------------------------------------------------------------


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return "<absent>"
        doc = doc[part]
    return doc


def _relevant(doc: Mapping[str, Any], pair: Pair) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for path in pair.fields:
        value = _get(doc, path)
        if path == "properties.securityRules" and isinstance(value, list):
            value = [
                {
                    "name": r.get("name"),
                    **{
                        k: v
                        for k, v in (r.get("properties") or {}).items()
                        if k
                        in (
                            "priority",
                            "direction",
                            "access",
                            "protocol",
                            "sourceAddressPrefix",
                            "sourceAddressPrefixes",
                            "destinationPortRange",
                            "destinationPortRanges",
                        )
                    },
                }
                for r in value
                if isinstance(r, dict)
            ]
        shown[path] = value
    return shown


def _inbound_internet_ports(doc: Mapping[str, Any]) -> set[str]:
    ports: set[str] = set()
    for rule in _get(doc, "properties.securityRules") or []:
        props = rule.get("properties") or {} if isinstance(rule, dict) else {}
        if (
            props.get("direction") == "Inbound"
            and props.get("access") == "Allow"
            and props.get("sourceAddressPrefix") in INTERNET_SOURCES
        ):
            ports.add(str(props.get("destinationPortRange")))
            ports.update(str(p) for p in props.get("destinationPortRanges") or [])
    return ports


def explain(pair: Pair, doc: Mapping[str, Any] | None, verdicts: Mapping[str, str]) -> str:
    """Which tool is wrong and why, where the tools' rules (read from their code) say so."""
    missing = [tool for tool, v in verdicts.items() if v == ABSENT]
    if doc is None:
        return "the resource is not in the sim any more"
    if missing:
        return f"not reported by {', '.join(missing)} (see that tool's errors)"
    props = doc.get("properties") or {}
    if pair.name == "storage-secure-transfer" and "supportsHttpsTrafficOnly" not in props:
        return "Prowler and Custodian are wrong: absent supportsHttpsTrafficOnly means true"
    if pair.name == "storage-min-tls-1-2" and props.get("minimumTlsVersion") == "TLS1_3":
        return "Prowler is wrong: TLS1_3 is above the 1.2 floor; it compares with 'TLS1_2' exactly"
    if pair.name == "storage-blob-public-access":
        if doc.get("kind") == "FileStorage":
            return "FileStorage has no blob service: phiguard NOT_APPLICABLE, the peers judge it"
        if "allowBlobPublicAccess" not in props:
            return "Prowler is wrong: absent allowBlobPublicAccess permits anonymous access"
    if (
        pair.name == "storage-network-default-deny"
        and str(props.get("publicNetworkAccess", "")).lower() == "disabled"
    ):
        return "Prowler is wrong: the public endpoint is disabled; defaultAction does not apply"
    if pair.name == "nsg-management-ports-internet":
        ports = _inbound_internet_ports(doc)
        if ports and all(p.startswith("59") for p in ports):
            return "out of Prowler's scope: WinRM (5985-5986) only; it checks RDP and SSH"
        return "rule-level string matching (peers) vs Azure's first-match evaluation (phiguard)"
    if pair.name == "keyvault-recoverable" and "enableSoftDelete" not in props:
        return "Prowler is wrong: absent enableSoftDelete means soft delete is on"
    return "not explained by the known rule differences: read the JSON"


def agreement(
    bench: Bench, runs: Sequence[Run], pair: Pair, cache: dict[str, Any]
) -> dict[str, Any]:
    # A tool that judged no resource of the pair (it failed to read the type) is left out of
    # the comparison and named, rather than "disagreeing" on every resource.
    silent = [r.tool for r in runs if r.verdicts and not r.verdicts.get(pair.name)]
    tools = [r for r in runs if r.verdicts.get(pair.name)]
    resources = sorted(
        {rid for r in tools for rid in r.verdicts.get(pair.name, {})}
        | {rid.lower() for rid in bench.universe.get(pair.resource_type, [])}
    )
    counts: dict[str, dict[str, int]] = {}
    for r in tools:
        tally = Counter(r.verdicts.get(pair.name, {}).get(rid, ABSENT) for rid in resources)
        counts[r.tool] = dict(tally)
    disagreements = []
    for rid in resources:
        verdicts = {r.tool: r.verdicts.get(pair.name, {}).get(rid, ABSENT) for r in tools}
        if len(set(verdicts.values())) <= 1:
            continue
        if rid not in cache:
            try:
                cache[rid] = bench.sim.admin("GET", "document", id=rid)
            except RuntimeError:
                cache[rid] = None
        doc = cache[rid]
        disagreements.append(
            {
                "resource": rid,
                "verdicts": verdicts,
                "json": _relevant(doc, pair) if doc is not None else None,
                "explanation": explain(pair, doc, verdicts),
            }
        )
    return {
        "pair": pair.name,
        "phiguard": list(pair.phiguard),
        "prowler": list(pair.prowler),
        "custodian": {"resource": pair.custodian_resource, "filters": pair.custodian_filters},
        "differences": pair.differences,
        "resources": len(resources),
        "no_verdicts_from": silent,
        "counts": counts,
        "agree": len(resources) - len(disagreements),
        "disagreements": disagreements,
    }


# --- printing -------------------------------------------------------------------------------


def print_runs(runs: Sequence[Run], resources: int) -> None:
    header = (
        f"{'tool':<22}{'throttle':>9}{'wall s':>9}{'CPU s':>8}{'ms CPU/res':>11}{'ARM calls':>11}"
        f"{'429s':>7}{'sim CPU s':>11}{'Azurite CPU s':>15}  status"
    )
    print(
        f"(CPU: the tool's user + system time, its child processes included; ms CPU/res: over "
        f"the {resources:,} resources of the matched types; ARM calls: answered, 429s apart)"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        per = 1000 * r.cpu_seconds / resources if resources else float("nan")
        status = "ok" if r.ok else f"NOT RUN / FAILED: {r.error}"
        print(
            f"{r.tool:<22}{r.throttle:>9}{r.wall_seconds:>9.1f}{r.cpu_seconds:>8.1f}{per:>11.2f}"
            f"{r.arm_calls:>11,}{r.throttled_429:>7,}{r.sim_cpu_seconds:>11.1f}"
            f"{r.azurite_cpu_seconds:>15.1f}  {status}"
        )
    for r in runs:
        if r.calls_by_kind:
            kinds = ", ".join(f"{k} {n}" for k, n in r.calls_by_kind.items())
            print(f"  {r.tool} ({r.throttle}), ARM requests by kind, 429s included: {kinds}")
        if r.other_requests:
            print(f"    also: {', '.join(f'{k} {n}' for k, n in r.other_requests.items())}")
        for line in r.warnings:
            print(f"    {r.tool} said: {line[:300]}")


def print_agreement(table: Mapping[str, Any], limit: int) -> None:
    pair = table["pair"]
    counts = "; ".join(
        f"{tool} " + " ".join(f"{k} {n}" for k, n in sorted(c.items()))
        for tool, c in table["counts"].items()
    )
    print(f"{pair}: {table['resources']} resources, all tools agree on {table['agree']}; {counts}")
    print(f"  rules: phiguard {'+'.join(table['phiguard'])} | Prowler {'+'.join(table['prowler'])}")
    print(f"  known differences: {table['differences']}")
    if table["no_verdicts_from"]:
        print(
            f"  no verdicts from {', '.join(table['no_verdicts_from'])} on this pair (its errors "
            "are above); compared without it"
        )
    for d in table["disagreements"][:limit]:
        verdicts = " ".join(f"{t}={v}" for t, v in d["verdicts"].items())
        print(f"  DISAGREE {d['resource']}: {verdicts}")
        print(f"    json: {json.dumps(d['json'], sort_keys=True)[:400]}")
        print(f"    why: {d['explanation']}")
    if len(table["disagreements"]) > limit:
        print(f"  ... {len(table['disagreements']) - limit} more (all in the JSON file)")


# --- main -----------------------------------------------------------------------------------


def _universe(spec: str, seed: int) -> dict[str, list[str]]:
    from sim.server import resolve_estate

    estate = resolve_estate(spec, seed)
    wanted = {p.resource_type for p in PAIRS}
    out: dict[str, list[str]] = {t: [] for t in wanted}
    for doc in estate.documents:
        kind = str(doc.get("type", "")).lower()
        if kind in wanted:
            out[kind].append(str(doc["id"]).lower())
    return out


def _no_store_supported() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "scan", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return "--no-store" in done.stdout


@dataclass
class Options:
    resources: int
    estate: str
    seed: int
    throttle: str
    cache: Path
    skip_install: bool
    timeout: float
    show: int
    out: Path
    warmup: bool = True


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--resources", type=int, default=8000, help="generated estate size")
    parser.add_argument(
        "--estate",
        default="",
        help='another estate instead of a generated one: "demo" or a JSON estate file',
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throttle", choices=("on", "off", "both"), default="both")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the venvs live")
    parser.add_argument(
        "--skip-install", action="store_true", help="use the cached venvs only, install nothing"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds per tool process (default 900)"
    )
    parser.add_argument(
        "--show", type=int, default=10, help="disagreements printed per pair (all go to JSON)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / ".bench", help="where the JSON goes (default .bench/)"
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="measure from the first run (default: one phiguard and one Custodian run first, "
        "not counted)",
    )
    ns = parser.parse_args(argv)
    if ns.resources < 1:
        parser.error("--resources must be at least 1")
    return Options(
        resources=ns.resources,
        estate=ns.estate,
        seed=ns.seed,
        throttle=ns.throttle,
        cache=ns.cache.expanduser(),
        skip_install=ns.skip_install,
        timeout=ns.timeout,
        show=ns.show,
        out=ns.out,
        warmup=ns.warmup,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    shown = sys.argv[1:] if argv is None else list(argv)
    print(" ".join(["$ python -m bench.peers", *shown]))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    try:
        return _main(options)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"bench.peers: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


PHIGUARD_PACKAGES = ("shared", "checks", "remediations")


def byte_compile() -> str:
    """phiguard's sources compiled to bytecode beside them, as pip compiles the peers' packages
    when it installs them. Without it, where ``PYTHONDONTWRITEBYTECODE`` is set (this machine
    sets it), every phiguard run compiles its ~160 modules from source again (a tenth of a
    second or more of each run) while the peers load theirs compiled."""
    import compileall

    ok = all(
        compileall.compile_dir(REPO / package, quiet=2, workers=1) for package in PHIGUARD_PACKAGES
    )
    where = ", ".join(f"{p}/" for p in PHIGUARD_PACKAGES)
    return f"sources byte-compiled ({where}; as pip compiles the peers')" + (
        "" if ok else " — some failed to compile; those load from source"
    )


def _main(options: Options) -> int:
    from sim.azurite import running_azurite
    from sim.fixture import spawned_sim

    options.cache.mkdir(parents=True, exist_ok=True)
    peers = {
        "prowler": Peer("prowler", PROWLER_REQUIREMENTS, "prowler", options.cache / "prowler"),
        "custodian": Peer(
            "custodian", CUSTODIAN_REQUIREMENTS, "custodian", options.cache / "custodian"
        ),
    }
    print("peers:")
    for peer in peers.values():
        install(peer, options.skip_install)
    print(f"phiguard: {byte_compile()}")
    modes = ["off", "on"] if options.throttle == "both" else [options.throttle]
    spec = options.estate or str(options.resources)
    universe = _universe(spec, options.seed)
    resources = sum(len(v) for v in universe.values())
    runs: list[Run] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="phiguard-peers-") as tmp,
        running_azurite() as azurite,
        spawned_sim(
            estate=spec, seed=options.seed, extra_args=["--proxy-port", "0"], timeout=600
        ) as sim,
    ):
        bench = Bench(
            sim=sim,
            azurite=azurite,
            workdir=Path(tmp),
            timeout=options.timeout,
            universe=universe,
            no_store_supported=_no_store_supported(),
        )
        described = (
            f"{options.estate}" if options.estate else f"generated {options.resources:,} resources"
        )
        print(
            f"estate: {described} (seed {options.seed}) in "
            f"{len(sim.subscriptions)} subscriptions; matched checks cover {resources:,} of them "
            + ", ".join(f"({n} {t})" for t, n in sorted((t, len(v)) for t, v in universe.items()))
        )
        print(
            "pacing: phiguard follows x-ms-ratelimit-remaining-subscription-reads, spaces reads "
            "to 25/s per subscription once the bucket is spent and holds a subscription back "
            "for a 429's Retry-After; the peers use the Azure SDK's retry policy"
        )
        tools: list[tuple[str, Callable[[str], Run]]] = [
            ("phiguard", lambda m: run_phiguard(bench, m, store=True)),
            ("phiguard --no-store", lambda m: run_phiguard(bench, m, store=False)),
            ("custodian", lambda m: run_custodian(bench, peers["custodian"], m)),
            ("prowler", lambda m: run_prowler(bench, peers["prowler"], m)),
        ]
        for mode in modes:
            print(f"\n== throttling {mode} ==")
            if options.warmup:
                print(
                    "warm-up, not counted: one phiguard scan with the store and one Custodian "
                    "run (the first run after start-up, or after Prowler's minutes, pays for the "
                    "emulator's JIT and cold caches; phiguard would otherwise always be that run)",
                    flush=True,
                )
                for warm in (
                    run_phiguard(bench, mode, store=True, tag="warmup"),
                    run_custodian(bench, peers["custodian"], mode, tag="warmup"),
                ):
                    print(
                        f"  {warm.tool}: {warm.wall_seconds:.1f}s wall"
                        + ("" if warm.ok else f" — {warm.error}"),
                        flush=True,
                    )
            mode_runs = []
            for name, runner in tools:
                print(f"running {name} ...", flush=True)
                result = runner(mode)
                mode_runs.append(result)
                print(
                    f"  {name}: {result.wall_seconds:.1f}s wall, {result.arm_calls:,} ARM calls"
                    + ("" if result.ok else f" — {result.error}"),
                    flush=True,
                )
            runs += mode_runs
            print()
            print_runs(mode_runs, resources)
            print()
            cache: dict[str, Any] = {}
            tables[mode] = [agreement(bench, mode_runs, pair, cache) for pair in PAIRS]
            for table in tables[mode]:
                print_agreement(table, options.show)
            print_targets(mode_runs)
        sim.set_faults("")
    print("\nunmatched peer checks (no phiguard check of the same meaning):")
    for check, why in UNMATCHED.items():
        print(f"  {check}: {why}")
    out = write_json(options, runs, tables, resources)
    print(f"\nwritten: {out}")
    return 0


def print_targets(runs: Sequence[Run]) -> None:
    """The issue's targets: phiguard's ARM calls <= Custodian's; wall <= 1.0x Custodian's with
    the store and <= 0.5x without."""
    by_tool = {r.tool: r for r in runs}
    custodian = by_tool.get("custodian")
    if custodian is None or not custodian.ok or not custodian.wall_seconds:
        print("targets: not judged (Custodian did not run)")
        return
    for name, limit in (("phiguard", 1.0), ("phiguard --no-store", 0.5)):
        mine = by_tool.get(name)
        if mine is None or not mine.ok:
            print(f"targets: {name} did not run")
            continue
        ratio = mine.wall_seconds / custodian.wall_seconds
        calls = "met" if mine.arm_calls <= custodian.arm_calls else "MISSED"
        wall = "met" if ratio <= limit else "MISSED"
        extra = {
            kind: n - custodian.calls_by_kind.get(kind, 0)
            for kind, n in mine.calls_by_kind.items()
            if n > custodian.calls_by_kind.get(kind, 0)
        }
        print(
            f"targets: {name}: ARM calls {mine.arm_calls:,} vs Custodian's "
            f"{custodian.arm_calls:,} ({calls}); wall {ratio:.2f}x Custodian's "
            f"(target <= {limit}x: {wall})"
            + (
                "; calls Custodian does not make: "
                + ", ".join(f"{k} +{n}" for k, n in extra.items())
                if extra
                else ""
            )
        )


def write_json(
    options: Options, runs: Sequence[Run], tables: Mapping[str, Any], resources: int
) -> Path:
    out_dir = options.out
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"peers-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "command": "python -m bench.peers " + " ".join(sys.argv[1:]),
        "machine": {"cores": os.cpu_count(), "load_average": os.getloadavg()},
        "options": {k: str(v) for k, v in asdict(options).items()},
        "versions": {"prowler": PROWLER_REQUIREMENTS, "custodian": CUSTODIAN_REQUIREMENTS},
        "resources_in_matched_types": resources,
        "runs": [{k: v for k, v in asdict(r).items() if k != "verdicts"} for r in runs],
        "agreement": tables,
        "unmatched": UNMATCHED,
    }
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
