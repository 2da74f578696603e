"""Pre-deploy evaluation: ARM template JSON and Bicep files read into the documents ARM would
return once they are deployed, judged by the same engine and catalog as a live read.

Used by ``phiguard evaluate`` (an operator / CI command); the Functions app never imports it,
and it is left out of the deployed package (``.funcignore``), so pycep-parser is a development
and CLI dependency (``requirements-iac.txt``), not a deployed one.

Every declared resource becomes a snapshot; PHI scope comes from its declared tags and its
declared resource group's tags (and the ``PHIGUARD_PHI_*`` settings, as for a live read). A
check that reads a value the template leaves to deployment is NOT_ASSESSED, never PASS.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.iac.model import Declared, IacError, documents

__all__ = ["IacError", "IacInput", "evaluate", "load", "split_inputs"]

_SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"


@dataclass
class IacInput:
    """What ``evaluate`` was given, sorted: templates to deploy offline, the rest as before."""

    bicep: list[tuple[Path, Path | None]] = field(default_factory=list)
    arm: list[tuple[Path, Any, Path | None]] = field(default_factory=list)
    documents: list[tuple[Any, str]] = field(default_factory=list)  # parsed, with their file

    @property
    def any_template(self) -> bool:
        return bool(self.bicep or self.arm)


def _parameters_for(template: Path) -> Path | None:
    """azd's convention: ``main.parameters.json`` beside ``main.bicep``."""
    candidate = template.with_name(f"{template.stem}.parameters.json")
    return candidate if candidate.is_file() else None


def _modules_of(bicep_files: Sequence[Path]) -> set[Path]:
    """Bicep files another of them uses as a module: deployed through it, not on their own."""
    from shared.iac.bicep import parse_bicep

    used: set[Path] = set()
    for path in bicep_files:
        try:
            tree = parse_bicep(path.read_text(encoding="utf-8-sig"), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise IacError(str(path), "$", f"cannot read: {exc}") from None
        for spec in (tree.get("modules") or {}).values():
            detail = spec.get("detail") or {}
            if spec.get("type") == "local" and detail.get("path"):
                used.add((path.parent / str(detail["path"])).resolve())
    return used


def split_inputs(paths: Iterable[str | Path]) -> IacInput:
    """Sorts the paths given to ``evaluate``: ``.bicep`` entry files (a directory's files that
    no other file uses as a module), ARM templates and parameters files among the JSON files,
    and every other JSON document for the loader."""
    from shared.iac.arm_template import is_arm_template, is_parameters_file
    from shared.loader import iter_json_files, read_json

    found = IacInput()
    bicep_files: list[Path] = []
    json_paths: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            bicep_files.extend(sorted(p for p in path.rglob("*.bicep") if p.is_file()))
            json_paths.extend(iter_json_files([path]))
        elif path.suffix.lower() == ".bicep" and path.is_file():
            bicep_files.append(path)
        else:
            json_paths.extend(iter_json_files([path]))
    modules = _modules_of(bicep_files)
    for path in bicep_files:
        if path.resolve() not in modules:
            found.bicep.append((path, _parameters_for(path)))
    for path in json_paths:
        document = read_json(path)
        if is_parameters_file(document):
            continue
        if is_arm_template(document):
            found.arm.append((path, document, _parameters_for(path)))
        else:
            found.documents.append((document, str(path)))
    return found


def declared_resources(given: IacInput) -> list[Declared]:
    """Every resource the templates deploy, with ids as they will be."""
    from shared.iac.arm_template import ArmTemplate
    from shared.iac.bicep import BicepTemplate, read_parameters_file
    from shared.iac.functions import PLACEHOLDER_SUBSCRIPTION, Scope

    subscription = os.environ.get(_SUBSCRIPTION_ENV) or PLACEHOLDER_SUBSCRIPTION
    location = os.environ.get("AZURE_LOCATION")
    found: list[Declared] = []
    for path, params_path in given.bicep:
        params = read_parameters_file(params_path) if params_path else {}
        template = BicepTemplate(path, Scope(subscription, None, location), params)
        if template.target_scope not in {"subscription", ""} and template.target_scope != (
            "resourceGroup"
        ):
            raise IacError(
                str(path), "targetScope", f"{template.target_scope} deployments are not read"
            )
        if template.target_scope in {"", "resourceGroup"}:
            # A resource group deployment: the group is the deployer's choice.
            template = BicepTemplate(
                path, Scope(subscription, "deployment-resource-group", location), params
            )
        found.extend(template.declared())
    for path, document, params_path in given.arm:
        params = read_parameters_file(params_path) if params_path else {}
        schema = str(document.get("$schema", "")).lower()
        group = None if "subscriptiondeploymenttemplate" in schema else "deployment-resource-group"
        declared, _notes = ArmTemplate(
            document, str(path), Scope(subscription, group, location), params
        ).declared()
        found.extend(declared)
    return found


def load(given: IacInput) -> list[Any]:
    """Snapshots of every declared resource, related documents attached as for a live read;
    a template is the whole declared estate, so a related list with no entry is "none"."""
    from shared.iac.values import tracked_snapshot
    from shared.loader import load_documents

    everything = declared_resources(given)
    deployed = [d for d in everything if not d.existing]
    ids = {d.id.lower() for d in deployed}
    # References the template asserts (``existing``) count for lookups, never judged.
    referenced = [d for d in everything if d.existing and d.id.lower() not in ids]
    declared = deployed + referenced
    judged = ids
    sources = {d.id.lower(): f"{d.source} ({d.where})" for d in declared}
    pairs = [(doc, sources.get(doc["id"].lower(), "<template>")) for doc in documents(declared)]
    return [
        tracked_snapshot(s)
        for s in load_documents(pairs, complete=True)
        if str(s.resource.get("id", "")).lower() in judged
    ]


def evaluate(engine: Any, snapshots: Sequence[Any]) -> list[Any]:
    """The engine's evaluations, with the catalog's checks NOT_ASSESSED wherever they read a
    value the template leaves to deployment. A resource whose PHI scope hangs on tags left to
    deployment gets its PHI-only checks as NOT_ASSESSED too, instead of silently fewer checks."""
    from shared.engine import Engine
    from shared.iac.values import tracked_catalog

    iac_engine = Engine(catalog=tracked_catalog(engine.catalog), phi_scope=engine.phi_scope)
    evaluations = []
    for snapshot in snapshots:
        if engine.phi_scope.is_phi(snapshot) or not _scope_unknown(snapshot):
            evaluations.append(iac_engine.evaluate(snapshot))
        else:
            evaluations.append(_phi_only_not_assessed(iac_engine, snapshot))
    return evaluations


def _scope_unknown(snapshot: Any) -> bool:
    from shared.iac.values import contains_unresolved

    group = snapshot.resource_group or {}
    return contains_unresolved(dict.get(dict(snapshot.resource), "tags")) or (
        contains_unresolved(group.get("tags") if isinstance(group, dict) else None)
    )


def _phi_only_not_assessed(engine: Any, snapshot: Any) -> Any:
    from dataclasses import replace

    from shared.kernel.findings import Status
    from shared.kernel.snapshot import Snapshot

    as_phi = engine.evaluate(
        Snapshot(snapshot.resource, snapshot.related, snapshot.resource_group, True)
    )
    findings = []
    for finding in as_phi.findings:
        if engine.catalog[finding.check_id].phi_only:
            finding = replace(
                finding,
                status=Status.NOT_ASSESSED,
                reason="Not assessed: whether this resource is in PHI scope depends on tags the "
                "template leaves to deployment.",
                evidence={"tags": "unresolved"},
                phi=False,
            )
        else:
            finding = replace(finding, phi=False)
        findings.append(finding)
    return replace(as_phi, phi=False, findings=tuple(findings))
