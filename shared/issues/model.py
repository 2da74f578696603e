"""The issue tracker interface: a finding's fingerprint, what an issue says, what a tracker holds.

One open issue per fingerprint: a fingerprint is the finding's canonical resource id (case
folded, as ARM ids are case-insensitive) and check id, hashed to a short stable token. It goes
into the issue as a label / tag and as a marker line in the body, so a tracker finds the issue
it opened before, whichever process opened it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.kernel.errors import PhiguardError
from shared.kernel.resource_id import canonical, normalize

MARKER_PREFIX = "phiguard:fingerprint="
_HASH_RE = re.compile(r"^[0-9a-f]{16}$")
_CHECK_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")

Backend = Literal["github", "azure-devops"]
CloseReason = Literal["completed", "not_planned"]


class IssueError(PhiguardError, ValueError):
    """An issue cannot be built or addressed as asked (a bad fingerprint, an unknown issue)."""


@dataclass(frozen=True)
class Fingerprint:
    """The identity of an issue: one resource, one check. ``value`` is the first 16 hex digits
    of SHA-256 over ``<normalized canonical resource id>|<check id>``."""

    value: str

    def __post_init__(self) -> None:
        if not _HASH_RE.match(self.value):
            raise IssueError(f"fingerprint must be 16 lowercase hex digits, got {self.value!r:.40}")

    @classmethod
    def of(cls, resource_id: str, check_id: str) -> Fingerprint:
        if not isinstance(check_id, str) or not _CHECK_RE.match(check_id):
            raise IssueError(f"check id must be a snake_case identifier, got {check_id!r:.80}")
        identity = f"{normalize(canonical(resource_id))}|{check_id}"
        return cls(hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16])

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """A fingerprint from its marker (``phiguard:fingerprint=<hash>``), label or bare hash."""
        value = text.strip()
        for prefix in (MARKER_PREFIX, "fingerprint-"):
            if value.startswith(prefix):
                value = value[len(prefix) :]
        return cls(value)

    @property
    def marker(self) -> str:
        """The line in an issue's body (and GitHub's label) naming the fingerprint."""
        return f"{MARKER_PREFIX}{self.value}"

    @property
    def tag(self) -> str:
        """The Azure DevOps tag (tags hold no ``:`` or ``=`` reliably in WIQL)."""
        return f"fingerprint-{self.value}"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class IssueContent:
    """What an issue says. ``body`` is Markdown (GitHub), ``body_html`` the same as HTML (Azure
    DevOps' ``System.Description``); both already hold the fingerprint marker and have every
    value from Azure escaped. ``labels`` are plain words (severity, HIPAA section, service)."""

    title: str
    body: str
    labels: tuple[str, ...] = ()
    assignee: str | None = None
    body_html: str = ""
    severity: str = ""


IssueState = Literal["open", "closed"]


@dataclass(frozen=True)
class TrackedIssue:
    """An issue as its tracker holds it: ``id`` is GitHub's number or the work item id."""

    backend: Backend
    id: int
    url: str
    state: IssueState
    fingerprint: Fingerprint
    raw_state: str = field(default="", compare=False)  # the tracker's own word ("Active", ...)


class IssueTracker(Protocol):
    """One tracker (a repository, a project). ``open`` is idempotent: it finds the fingerprint's
    issue first and creates one only when there is none (a closed one is left closed; reopening
    is the caller's decision, with a comment saying why)."""

    backend: Backend

    def find(self, fingerprint: Fingerprint) -> TrackedIssue | None: ...

    def open(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue: ...

    def create(self, content: IssueContent, fingerprint: Fingerprint) -> TrackedIssue: ...

    def comment(self, issue: TrackedIssue, text: str) -> None: ...

    def close(
        self, issue: TrackedIssue, text: str, reason: CloseReason = "completed"
    ) -> TrackedIssue: ...

    def reopen(self, issue: TrackedIssue, text: str) -> TrackedIssue: ...
