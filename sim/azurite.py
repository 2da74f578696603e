"""Azurite, the local Azure Storage emulator, as a context manager for tests, the demo and benchmarks.

Azurite comes from npm (``azurite@3.35.0``, pinned in ``package.json``; ``npm install`` puts it in
``node_modules/.bin``). It is started in memory on ports the OS picks (``--*Port 0``) and the
actual ports are read from the "successfully listening at" lines it prints, so parallel test
workers never collide. ``--inMemoryPersistence`` refuses ``--location``, so the process runs in a
throwaway working directory instead (anything it writes lands there and is removed on exit).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The emulator's fixed, publicly documented development account (not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")
_SERVICES = ("Blob", "Queue", "Table")


class AzuriteError(RuntimeError):
    """Azurite is not installed, did not start, or stopped answering."""


@dataclass(frozen=True)
class AzuriteEndpoints:
    """Where a running Azurite listens. URLs include the account path, as the SDKs expect."""

    blob_url: str
    queue_url: str
    table_url: str
    pid: int
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        """The standard development connection string, with explicit endpoints for these ports."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={self.account_name};"
            f"AccountKey={self.account_key};"
            f"BlobEndpoint={self.blob_url};"
            f"QueueEndpoint={self.queue_url};"
            f"TableEndpoint={self.table_url};"
        )


def azurite_command(repo: Path = REPO) -> list[str]:
    """The command line that starts Azurite in memory on OS-chosen ports."""
    return [
        str(repo / "node_modules" / ".bin" / "azurite"),
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--blobPort",
        "0",
        "--queuePort",
        "0",
        "--tablePort",
        "0",
    ]


@contextlib.contextmanager
def running_azurite(
    repo: Path = REPO, *, startup_timeout: float = 30.0
) -> Iterator[AzuriteEndpoints]:
    """Starts Azurite, yields its endpoints once all three services listen, and stops it.

    The process (and its process group) is killed on exit, on errors and on KeyboardInterrupt;
    on Linux it is also told to die with the thread that started it, so a killed test run
    leaves no emulator behind.
    """
    command = azurite_command(repo)
    binary = Path(command[0])
    if not binary.exists():
        raise AzuriteError(
            f"Azurite is not installed: {binary} is missing. "
            f"Run `cd {repo} && npm install --no-audit --no-fund` (Azurite is pinned in "
            "package.json), then retry."
        )
    workdir = tempfile.mkdtemp(prefix="phiguard-azurite-")
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent if _can_set_pdeathsig() else None,
        )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise AzuriteError(
            f"could not start `{' '.join(command)}`: {exc} (is node on PATH?)"
        ) from exc

    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, lines), name="azurite-stdout", daemon=True)
    reader.start()
    try:
        urls = _wait_until_listening(proc, lines, output, startup_timeout, command)
        yield AzuriteEndpoints(
            blob_url=f"{urls['Blob']}/{ACCOUNT_NAME}",
            queue_url=f"{urls['Queue']}/{ACCOUNT_NAME}",
            table_url=f"{urls['Table']}/{ACCOUNT_NAME}",
            pid=proc.pid,
        )
    finally:
        _stop(proc)
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_listening(
    proc: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    output: list[str],
    timeout: float,
    command: list[str],
) -> dict[str, str]:
    urls: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(urls) < len(_SERVICES):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AzuriteError(
                f"`{' '.join(command)}` did not report all services listening within "
                f"{timeout:.0f} s; output so far:\n" + "".join(output)
            )
        try:
            line = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            continue
        if line is None:
            proc.wait(timeout=5)
            raise AzuriteError(
                f"`{' '.join(command)}` exited with code {proc.returncode} before listening; "
                "output:\n" + "".join(output)
            )
        output.append(line)
        match = _LISTENING.search(line)
        if match:
            urls[match.group(1)] = match.group(2).rstrip("/")
    return urls


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Drains Azurite's output so its pipe never fills; ``None`` marks the end."""
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.put(line)
    finally:
        lines.put(None)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _can_set_pdeathsig() -> bool:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only use it from the main
    # thread (pytest fixtures, the demo); a worker thread may legitimately end before Azurite.
    return (
        sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
    )


def _die_with_parent() -> None:
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
