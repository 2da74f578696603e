"""Every published Azure example (../shared/reference) goes through the engine without an ERROR."""

from __future__ import annotations

from pathlib import Path

from shared.engine import Engine
from shared.kernel.findings import Status
from shared.loader import load_paths


def test_every_reference_arm_example_evaluates_without_error(reference_dir: Path) -> None:
    snapshots = load_paths([reference_dir / "arm", reference_dir / "arm-extra"])
    assert len(snapshots) >= 40
    evaluations = Engine().evaluate_all(snapshots)
    errors = [
        f"{f.resource_id} {f.check_id}: {f.reason}"
        for e in evaluations
        for f in e.findings
        if f.status == Status.ERROR
    ]
    assert not errors, "\n".join(errors)
    assert sum(len(e.findings) for e in evaluations) > 0


def test_reference_examples_as_phi_evaluate_without_error(reference_dir: Path) -> None:
    """The same documents in PHI scope, so the phi_only checks meet real shapes too."""
    from dataclasses import replace

    snapshots = [
        replace(s, phi=True)
        for s in load_paths([reference_dir / "arm", reference_dir / "arm-extra"])
    ]
    evaluations = Engine().evaluate_all(snapshots)
    errors = [
        f"{f.resource_id} {f.check_id}: {f.reason}"
        for e in evaluations
        for f in e.findings
        if f.status == Status.ERROR
    ]
    assert not errors, "\n".join(errors)
    assert any(f.phi for e in evaluations for f in e.findings)


def test_child_documents_attach_to_their_parent(reference_dir: Path) -> None:
    snapshots = load_paths([reference_dir / "arm"])
    site = next(s for s in snapshots if s.type == "microsoft.web/sites")
    assert site.doc("web_config")["name"] == "web"
    server = next(s for s in snapshots if s.type == "microsoft.sql/servers")
    assert server.has("sql_encryption_protector")
    assert all(s.type != "microsoft.web/sites/config" for s in snapshots)
