"""The check decorator and the registry it fills, validated at import.

A check is a pure function ``(Snapshot) -> Result``: no I/O, no clock, no environment, no Azure
SDK. Its metadata is what the catalog, the evidence mapping and the reader rely on, so the
registry refuses anything inconsistent (see :func:`validate`) rather than shipping it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from checks.azure_policy import BUILT_IN
from shared.kernel.errors import PhiguardError
from shared.kernel.findings import Result, Severity, Status
from shared.kernel.hipaa import SECTIONS
from shared.kernel.related import RELATED
from shared.kernel.snapshot import MalformedResource, Snapshot

CheckFunc = Callable[[Snapshot], Result]

# The failure patterns Azure HIPAA audits find most often (issue #2); each maps to checks.
FAILURE_PATTERNS: dict[str, str] = {
    "P1": "PHI storage encrypted with Microsoft-managed instead of customer-managed keys",
    "P2": "PHI SQL databases without TDE under a customer-managed key",
    "P3": "No HIPAA/HITRUST Azure Policy baseline assigned on PHI subscriptions",
    "P4": "Key Vault access policies granting broad key access to service principals",
    "P5": "PHI-access logs not streamed to secure, retained storage (6-year retention)",
    "P6": "WAF in front of PHI apps not in prevention mode",
}

SERVICES = (
    "storage",
    "network",
    "keyvault",
    "sql",
    "monitoring",
    "appservice",
    "edge",
    "compute",
    "governance",
    # issue 14
    "cosmosdb",
    "postgresql",
    "mysql",
    "redis",
    "containerregistry",
    "search",
    "messaging",
    "health",
    "backup",
    "defender",
)

_ID_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
_TYPE_RE = re.compile(r"^[a-z0-9.]+/[a-z0-9./]+$")


class RegistryError(PhiguardError, ValueError):
    """The catalog is inconsistent; the message names the check and the rule it breaks."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: Severity
    resource_types: tuple[str, ...]
    hipaa: tuple[str, ...]
    azure_policy: tuple[str, ...]
    phi_only: bool
    remediation: str | None
    needs: tuple[str, ...]
    guidance: str
    patterns: tuple[str, ...]
    limitations: str
    service: str
    func: CheckFunc = field(repr=False, compare=False)

    def run(self, snapshot: Snapshot) -> Result:
        """The verdict on one snapshot. A check that raises or returns garbage is an ERROR
        naming the exception type, never a crash: one check can never stop the others."""
        try:
            result = self.func(snapshot)
        except MalformedResource as exc:
            return Result(Status.ERROR, _short(f"Malformed resource: {exc}."), {})
        except Exception as exc:
            return Result(Status.ERROR, _short(f"Check raised {type(exc).__name__}: {exc}."), {})
        if not isinstance(result, Result) or not isinstance(result.status, Status):
            return Result(
                Status.ERROR, f"Check returned {type(result).__name__}, not a Result.", {}
            )
        return result

    @property
    def description(self) -> str:
        """The docstring: what PASS and FAIL mean, and the defaults assumed."""
        return " ".join((self.func.__doc__ or "").split())

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "severity": self.severity.value,
            "resource_types": list(self.resource_types),
            "hipaa": list(self.hipaa),
            "hipaa_names": [SECTIONS[c].name for c in self.hipaa if c in SECTIONS],
            "azure_policy": list(self.azure_policy),
            "phi_only": self.phi_only,
            "remediation": self.remediation,
            "needs": list(self.needs),
            "patterns": list(self.patterns),
            "guidance": self.guidance,
            "limitations": self.limitations,
            "description": self.description,
        }


_REGISTERED: list[Check] = []
_EXTRA_POLICY: dict[str, str] = {}


def register_policy_definitions(definitions: dict[str, str]) -> None:
    """Adds built-in policy ids (id → display name) that a module cites beyond BUILT_IN."""
    _EXTRA_POLICY.update(definitions)


def check(
    *,
    id: str,
    title: str,
    severity: Severity,
    resource_types: Iterable[str],
    hipaa: Iterable[str],
    guidance: str,
    azure_policy: Iterable[str] = (),
    phi_only: bool = False,
    remediation: str | None = None,
    needs: Iterable[str] = (),
    patterns: Iterable[str] = (),
    limitations: str = "",
) -> Callable[[CheckFunc], CheckFunc]:
    """Registers a check. The function name must equal ``id``."""

    def decorate(func: CheckFunc) -> CheckFunc:
        module = func.__module__.rsplit(".", 1)[-1]
        _REGISTERED.append(
            Check(
                id=id,
                title=title,
                severity=Severity(severity),
                resource_types=tuple(t.lower() for t in resource_types),
                hipaa=tuple(hipaa),
                azure_policy=tuple(azure_policy),
                phi_only=phi_only,
                remediation=remediation,
                needs=tuple(needs),
                guidance=guidance,
                patterns=tuple(patterns),
                limitations=limitations,
                service=module,
                func=func,
            )
        )
        return func

    return decorate


def _problems(item: Check, func_name: str, seen: set[str]) -> list[str]:
    problems: list[str] = []
    if item.id in seen:
        problems.append("duplicate id")
    if item.id != func_name:
        problems.append(f"id differs from the function name {func_name!r}")
    if not _ID_RE.match(item.id):
        problems.append("id is not snake_case {service}_{resource}_{desired_state}")
    if item.service not in SERVICES or not item.id.startswith(item.service + "_"):
        problems.append(f"id must start with its module's service name ({item.service}_)")
    if not item.title or len(item.title) > 150 or item.title.endswith("."):
        problems.append("title must be 1-150 characters stating the compliant state, no period")
    if not item.resource_types or not all(_TYPE_RE.match(t) for t in item.resource_types):
        problems.append("resource_types must be lowercase ARM types")
    if not item.hipaa:
        problems.append("cites no HIPAA section")
    problems += [f"unknown HIPAA citation {c!r}" for c in item.hipaa if c not in SECTIONS]
    known_policy = BUILT_IN.keys() | _EXTRA_POLICY.keys()
    problems += [
        f"unknown Azure Policy id {p!r}" for p in item.azure_policy if p not in known_policy
    ]
    problems += [f"unknown related document {n!r}" for n in item.needs if n not in RELATED]
    problems += [
        f"unknown failure pattern {p!r}" for p in item.patterns if p not in FAILURE_PATTERNS
    ]
    if not item.guidance.strip():
        problems.append("no guidance")
    if not (item.func.__doc__ or "").strip():
        problems.append("no docstring saying what PASS and FAIL mean")
    return problems


def validate(items: Iterable[Check]) -> dict[str, Check]:
    """The catalog keyed by id; raises RegistryError listing every broken rule."""
    catalog: dict[str, Check] = {}
    errors: list[str] = []
    for item in items:
        problems = _problems(item, item.func.__name__, set(catalog))
        errors += [f"{item.id}: {p}" for p in problems]
        catalog.setdefault(item.id, item)
    if errors:
        raise RegistryError("invalid check catalog:\n  " + "\n  ".join(errors))
    return catalog


def registered() -> list[Check]:
    return list(_REGISTERED)


_REASON_LIMIT = 500


def _short(text: str) -> str:
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"
