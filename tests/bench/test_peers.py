"""bench.peers without the peers installed (installing Prowler takes minutes): phiguard's side
runs end to end, a missing or broken peer is reported with its own words, never a traceback, and
the figures it rests on (a child's CPU, verdicts over several checks) are measured right."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from bench import peers


def test_a_childs_cpu_is_measured_from_wait4(tmp_path: Path) -> None:
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    done = peers.run_measured(
        [sys.executable, "-c", burn], dict(os.environ), tmp_path, 60, tmp_path / "burn"
    )
    assert done.returncode == 0 and not done.timed_out
    assert 0.35 <= done.cpu <= done.wall + 0.1


def test_a_run_over_its_time_is_killed_and_says_so(tmp_path: Path) -> None:
    done = peers.run_measured(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        dict(os.environ),
        tmp_path,
        0.5,
        tmp_path / "sleep",
    )
    assert done.timed_out and done.wall < 10


def test_a_verdict_over_several_checks_fails_when_one_fails() -> None:
    by_check = {
        "rdp": {"/a": "PASS", "/b": "FAIL", "/c": "PASS"},
        "ssh": {"/a": "PASS", "/b": "PASS", "/c": "NOT_APPLICABLE"},
    }
    assert peers.combine(by_check, ("rdp", "ssh")) == {
        "/a": "PASS",
        "/b": "FAIL",
        "/c": "NOT_APPLICABLE",
    }


def test_every_pair_names_real_phiguard_checks_and_a_custodian_policy() -> None:
    from checks import CATALOG

    for pair in peers.PAIRS:
        for check_id in pair.phiguard:
            check = CATALOG.get(check_id)
            assert check is not None, check_id
            assert pair.resource_type in {t.lower() for t in check.resource_types}
    policies = peers.custodian_policies()["policies"]
    assert [p["name"] for p in policies] == [pair.name for pair in peers.PAIRS]
    assert all(p["filters"] and p["resource"].startswith("azure.") for p in policies)


@pytest.mark.slow
def test_the_bench_runs_phiguard_and_reports_peers_it_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    # A Prowler "install" whose executable fails the way a broken peer does.
    broken = cache / "prowler"
    (broken / "bin").mkdir(parents=True)
    script = broken / "bin" / "prowler"
    script.write_text("#!/bin/sh\necho 'prowler: error: cannot reach Azure' >&2\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (broken / "phiguard-peers.txt").write_text("\n".join(peers.PROWLER_REQUIREMENTS) + "\n")

    code = peers.main(
        [
            "--estate",
            "demo",
            "--throttle",
            "off",
            "--skip-install",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + captured.err
    assert "Traceback" not in out + captured.err
    assert "custodian: not installed in" in out
    assert "prowler: error: cannot reach Azure" in out
    assert "storage-min-tls-1-2: 4 resources, all tools agree on 4" in out
    assert "phiguard: sources byte-compiled" in out
    assert "warm-up, not counted" in out
    written = json.loads(next((tmp_path / "out").glob("peers-*.json")).read_text())
    # The warm-up runs are not among the measured ones: one run per tool.
    assert sorted(r["tool"] for r in written["runs"]) == [
        "custodian",
        "phiguard",
        "phiguard --no-store",
        "prowler",
    ]
    runs = {r["tool"]: r for r in written["runs"]}
    assert runs["phiguard"]["ok"] and runs["phiguard"]["arm_calls"] > 0
    assert runs["phiguard --no-store"]["ok"]
    assert not runs["prowler"]["ok"] and "exit 1" in runs["prowler"]["error"]
    tables = {t["pair"]: t for t in written["agreement"]["off"]}
    assert tables["storage-min-tls-1-2"]["counts"]["phiguard"] == {"FAIL": 1, "PASS": 3}


def _pair(name: str) -> peers.Pair:
    return next(p for p in peers.PAIRS if p.name == name)


@pytest.mark.parametrize(
    ("pair", "doc", "verdicts", "says"),
    [
        (
            "storage-min-tls-1-2",
            {"properties": {"minimumTlsVersion": "TLS1_3"}},
            {"phiguard": "PASS", "custodian": "PASS", "prowler": "FAIL"},
            "Prowler is wrong",
        ),
        (
            "storage-secure-transfer",
            {"properties": {}},
            {"phiguard": "PASS", "custodian": "FAIL", "prowler": "FAIL"},
            "Prowler and Custodian are wrong",
        ),
        (
            "storage-network-default-deny",
            {"properties": {"publicNetworkAccess": "Disabled", "networkAcls": {}}},
            {"phiguard": "PASS", "custodian": "PASS", "prowler": "FAIL"},
            "public endpoint is disabled",
        ),
        (
            "nsg-management-ports-internet",
            {
                "properties": {
                    "securityRules": [
                        {
                            "name": "winrm",
                            "properties": {
                                "direction": "Inbound",
                                "access": "Allow",
                                "sourceAddressPrefix": "Internet",
                                "destinationPortRange": "5985-5986",
                            },
                        }
                    ]
                }
            },
            {"phiguard": "FAIL", "custodian": "FAIL", "prowler": "PASS"},
            "WinRM",
        ),
        (
            "keyvault-rbac",
            {"properties": {"enableRbacAuthorization": True}},
            {"phiguard": "PASS", "prowler": "-"},
            "not reported by prowler",
        ),
        (
            "keyvault-rbac",
            {"properties": {"enableRbacAuthorization": True}},
            {"phiguard": "PASS", "prowler": "FAIL"},
            "not explained",
        ),
    ],
)
def test_a_disagreement_is_explained_by_the_rule_that_differs(
    pair: str, doc: dict[str, object], verdicts: dict[str, str], says: str
) -> None:
    assert says in peers.explain(_pair(pair), doc, verdicts)


def test_a_peers_errors_are_its_own_lines_once_per_cause_without_traceback_noise() -> None:
    output = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "azure.core.exceptions.ServiceRequestError: Cannot connect to host\n"
        "2026-01-01 [File: keyvault_service.py:149] ERROR: KeyVault kv-1 -- ValueError: bad\n"
        "2026-01-01 [File: keyvault_service.py:149] ERROR: KeyVault kv-2 -- ValueError: bad\n"
        "a line of progress\n"
    )
    assert peers.peer_errors(output) == [
        "azure.core.exceptions.ServiceRequestError: Cannot connect to host",
        "KeyVault kv-1 -- ValueError: bad",
    ]


def test_the_warm_up_is_on_unless_declined() -> None:
    assert peers.parse([]).warmup is True
    assert peers.parse(["--no-warmup"]).warmup is False
