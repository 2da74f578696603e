"""The house rules that import-linter cannot state (the contracts themselves live in
pyproject.toml and run as `lint-imports` in `make test`)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRODUCT = ("shared", "checks", "remediations")
# Distribution names of the top-level modules the deployed code imports.
DISTRIBUTIONS = {
    "azure.functions": "azure-functions",
    "azure.core": "azure-core",
    "azure.identity": "azure-identity",
    "azure.data.tables": "azure-data-tables",
    "azure.mgmt.core": "azure-mgmt-core",
    "azure.communication.email": "azure-communication-email",
    "azure.storage.blob": "azure-storage-blob",
    "jinja2": "jinja2",
    "rich": "rich",
    "requests": "requests",
    "urllib3": "urllib3",
}


def _imports(path: Path) -> Iterator[str]:
    """Every module a file imports, at the top or inside a function (lazy imports count)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _contract_modules() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    kernel = next(c for c in contracts if c["id"] == "kernel")
    return {m for m in kernel["forbidden_modules"] if m.startswith("shared.")}


def test_every_module_of_shared_is_in_the_kernel_or_named_by_the_contracts() -> None:
    listed = _contract_modules()
    shared = REPO / "shared"
    modules = {f"shared.{p.stem}" for p in shared.glob("*.py") if p.stem != "__init__"}
    modules |= {
        f"shared.{p.parent.name}" for p in shared.glob("*/__init__.py") if p.parent.name != "kernel"
    }
    assert modules == listed, (
        "add new application modules to the forbidden lists in pyproject [tool.importlinter]: "
        f"missing {sorted(modules - listed)}, stale {sorted(listed - modules)}"
    )


def test_function_app_imports_only_the_api_module() -> None:
    product = [
        m for m in _imports(REPO / "function_app.py") if m.split(".")[0] in (*PRODUCT, "sim")
    ]
    assert set(product) <= {"shared", "shared.api"}, product


# The pre-deploy IaC reader (`phiguard evaluate` of Bicep / ARM templates) is an operator and CI
# command: .funcignore keeps it out of the package, and its parser (pycep-parser) is pinned in
# requirements-iac.txt instead of requirements.in.
NOT_DEPLOYED = ("shared/iac",)


def _deployed_files() -> Iterator[Path]:
    yield REPO / "function_app.py"
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            if not path.relative_to(REPO).as_posix().startswith(NOT_DEPLOYED):
                yield path


def test_what_is_not_deployed_is_left_out_of_the_package_and_unused_by_the_app() -> None:
    ignored = {line.strip().rstrip("/") for line in (REPO / ".funcignore").read_text().splitlines()}
    for folder in NOT_DEPLOYED:
        assert folder in ignored, f".funcignore must leave out {folder}"
        module = folder.replace("/", ".")
        for path in _deployed_files():
            if path.relative_to(REPO).as_posix() == "shared/cli/offline_commands.py":
                continue  # `phiguard evaluate` imports it lazily; the CLI is not run by the app
            imported = [m for m in _imports(path) if m == module or m.startswith(module + ".")]
            assert not imported, f"{path.relative_to(REPO)} imports {imported}: not deployed"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.split(r"[=<>!~\[ ]", name, maxsplit=1)[0].lower().replace("_", "-")] = version
    return pins


def _requirements() -> set[str]:
    """What the deployed code imports: requirements.in (requirements.txt is its lock)."""
    return set(_pins(REPO / "requirements.in"))


def test_the_lock_pins_every_direct_requirement_at_its_version() -> None:
    direct, locked = _pins(REPO / "requirements.in"), _pins(REPO / "requirements.txt")
    assert all(version for version in locked.values()), "requirements.txt pins every package"
    assert {n: locked.get(n) for n in direct} == direct, "run `make lock`"


def test_requirements_hold_exactly_what_the_deployed_code_imports() -> None:
    third_party: set[str] = set()
    for path in _deployed_files():
        if path.name == "demo.py":
            continue  # `phiguard demo` runs the simulated tenant: a development command
        for module in _imports(path):
            dev_commands = path.relative_to(REPO).as_posix() == "shared/cli/dev.py"
            if dev_commands and module.split(".")[0] == "sim":
                continue  # `phiguard sim serve`, lazily imported: a development command
            top = module.split(".")[0]
            if top in (*PRODUCT, "__future__") or top in sys.stdlib_module_names:
                continue
            if top == "sim":
                raise AssertionError(
                    f"{path.relative_to(REPO)} imports {module}: sim is not deployed"
                )
            found = next((d for m, d in DISTRIBUTIONS.items() if module.startswith(m)), None)
            assert found is not None, (
                f"{path.relative_to(REPO)} imports {module}: not a pinned dependency"
            )
            third_party.add(found)
    assert third_party == _requirements(), (
        f"requirements.in: unused {sorted(_requirements() - third_party)}, "
        f"missing {sorted(third_party - _requirements())}"
    )
