"""The deployable package, built the way `azd deploy` and the Functions remote build do: the
project folder less what .funcignore leaves out, plus `pip install -r requirements.txt` into a
target folder - then every function is found by importing function_app from there alone (no
virtualenv, no site-packages). pip uses its configured index and cache; CI has the registry."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import APP_FUNCTIONS

REPO = Path(__file__).resolve().parent.parent


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if "/" in pattern:
            if relative == pattern or relative.startswith(pattern + "/"):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def build_package(target: Path) -> list[str]:
    """Copies what would be deployed; returns the relative paths copied."""
    patterns = [
        line.strip()
        for line in (REPO / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for folder, dirs, files in os.walk(REPO):
        base = Path(folder).relative_to(REPO).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirs[:] = sorted(d for d in dirs if not _ignored(prefix + d, patterns))
        for name in sorted(files):
            relative = prefix + name
            if _ignored(relative, patterns):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, destination)
            copied.append(relative)
    return copied


def test_funcignore_leaves_out_caches_tooling_and_dev_code(tmp_path: Path) -> None:
    copied = build_package(tmp_path)
    tops = {c.split("/")[0] for c in copied}
    assert tops == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "shared",
        "checks",
        "remediations",
    }, tops
    assert not [c for c in copied if re.search(r"__pycache__|\.pyc$|egg-info", c)]
    assert not [c for c in copied if c.startswith("shared/iac/")]


@pytest.mark.slow
def test_the_remote_build_installs_the_lock_and_imports_every_function(tmp_path: Path) -> None:
    package = tmp_path / "package"
    build_package(package)
    site = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(site),
            "-r",
            str(package / "requirements.txt"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    installed = {
        re.sub(r"[-_.]+", "-", d.name.split("-")[0]).lower() for d in site.glob("*.dist-info")
    }
    locked = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in (package / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert installed == locked, "the lock is not the closure: run `make lock`"
    probe = (
        "import json, sys, function_app\n"
        "print(json.dumps(sorted(f.get_function_name() for f in function_app.app.get_functions())))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = os.pathsep.join([str(package), str(site)])
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe],  # -S: no site-packages, only the package
        cwd=package,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert set(json.loads(out)) == APP_FUNCTIONS
