"""The daily evidence export: what phiguard recorded each day, copied to the write-once container.

The state history and the remediation log live in Table Storage, where an account owner could
still change them. Once a day (the ``evidence`` timer) the previous UTC day's records are written
to the ``evidence`` Blob container, which the deployment makes immutable (a time-based retention
policy of six years, 45 CFR 164.316(b)(2)(i)):

``history/YYYY/MM/DD.ndjson``
    every status transition read that day (resource, check, from → to, severity, reason, read
    time, recorded time, cause), one JSON object per line, sorted;
``remediations/YYYY/MM/DD.ndjson``
    every remediation record created that day (plan, writes, inverse, verification, exemption);
``manifest/YYYY/MM/DD.json``
    the counts and the SHA-256 of each file, written last: a day with a manifest is complete.

Blobs are created, never overwritten (under the retention policy they could not be). Exporting a
day again finds the same content and does nothing; if records arrived late the new content is
written beside it as ``DD.r2.ndjson`` (then ``r3``...), and the newest manifest names it. The
export catches up on every day of the last ``days`` without a manifest, so a missed run is
repaired by the next one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.kernel.errors import PhiguardError

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.context import AppContext

CONTAINER = "evidence"
CATCH_UP_DAYS = 7
MAX_REVISIONS = 50


class EvidenceError(PhiguardError, RuntimeError):
    """A day cannot be exported (too many revisions of it already)."""


class EvidenceStore(Protocol):
    def read(self, name: str) -> bytes | None: ...

    def create(self, name: str, data: bytes) -> None: ...


@dataclass
class DayExport:
    day: date
    files: dict[str, str] = field(default_factory=dict)  # kind → blob name
    counts: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)  # blobs created by this run
    unchanged: bool = False


def ndjson(rows: Iterable[Mapping[str, Any]]) -> bytes:
    lines = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) for r in rows)
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _day_path(kind: str, day: date, revision: int = 1, ext: str = "ndjson") -> str:
    suffix = "" if revision == 1 else f".r{revision}"
    return f"{kind}/{day:%Y/%m/%d}{suffix}.{ext}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put_once(
    store: EvidenceStore, kind: str, day: date, data: bytes, out: DayExport, ext: str = "ndjson"
) -> str:
    """The blob holding ``data`` for (kind, day): an existing one with the same bytes, else a
    new revision. Never overwrites."""
    from azure.core.exceptions import ResourceExistsError

    for revision in range(1, MAX_REVISIONS + 1):
        name = _day_path(kind, day, revision, ext)
        existing = store.read(name)
        if existing is None:
            try:
                store.create(name, data)
            except ResourceExistsError:
                # Created by another export between the read and the create (the create is
                # create-only: ``If-None-Match: *`` answers 409 BlobAlreadyExists): the same
                # bytes are that blob, other bytes go to the next revision.
                if store.read(name) == data:
                    return name
                continue
            out.written.append(name)
            return name
        if existing == data:
            return name
    raise EvidenceError(f"{kind} of {day} has {MAX_REVISIONS} revisions already")


def export_day(
    store: EvidenceStore,
    day: date,
    transitions: Iterable[Mapping[str, Any]],
    remediations: Iterable[Mapping[str, Any]],
) -> DayExport:
    out = DayExport(day)
    parts = {"history": ndjson(transitions), "remediations": ndjson(remediations)}
    for kind, data in parts.items():
        out.files[kind] = _put_once(store, kind, day, data, out)
        out.counts[kind] = data.count(b"\n")
    manifest = {
        "day": day.isoformat(),
        "files": {
            kind: {"blob": out.files[kind], "records": out.counts[kind], "sha256": _sha(data)}
            for kind, data in parts.items()
        },
    }
    body = json.dumps(manifest, sort_keys=True, indent=1).encode()
    out.files["manifest"] = _put_once(store, "manifest", day, body, out, "json")
    out.unchanged = not out.written
    return out


def content_type(name: str) -> str:
    """The blob's media type: a manifest is one JSON document (``application/json``, RFC 8259),
    not newline-delimited JSON; the day files are NDJSON, one JSON text per line."""
    if name.endswith(".json"):
        return "application/json; charset=utf-8"
    return "application/x-ndjson; charset=utf-8"


def has_manifest(store: EvidenceStore, day: date) -> bool:
    return store.read(_day_path("manifest", day, 1, "json")) is not None


class BlobEvidenceStore:
    """The evidence container through azure-storage-blob (the same account as the tables)."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobEvidenceStore:
        from shared.tables import blob_service

        return cls(blob_service(settings).get_container_client(settings.evidence_container))

    def _ensure(self) -> None:
        if self._ready:
            return
        create_container_if_allowed(self._container)
        self._ready = True

    def read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        self._ensure()
        try:
            data: bytes = self._container.download_blob(name).readall()
        except ResourceNotFoundError:
            return None
        return data

    def create(self, name: str, data: bytes) -> None:
        self._ensure()
        self._container.upload_blob(name, data, overwrite=False, content_type=content_type(name))


def create_container_if_allowed(container: Any) -> None:
    """Creates the container unless it exists. A refusal for want of permission (403) is let
    pass: the deployment creates the containers, and phiguard's evidence role grants blob data
    writes, not ``Microsoft.Storage/storageAccounts/blobServices/containers/write``, the
    permission Create Container needs (learn.microsoft.com/rest/api/storageservices/create-container,
    "Authorization"). A container that is really missing then fails the write itself (404
    ``ContainerNotFound``), which names it."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    try:
        container.create_container()
    except ResourceExistsError:
        pass
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise


def export(
    ctx: AppContext,
    *,
    day: date | None = None,
    days: int = CATCH_UP_DAYS,
    store: EvidenceStore | None = None,
    now: datetime | None = None,
) -> list[DayExport]:
    """Exports ``day`` (again, if asked), or every one of the last ``days`` full UTC days that
    has no manifest yet, oldest first."""
    from shared.state.model import transition_json

    now = now or datetime.now(UTC)
    store = store or BlobEvidenceStore.from_settings(ctx.settings)
    today = now.astimezone(UTC).date()
    if day is not None:
        if day >= today:
            raise ValueError(f"{day} is not over yet: only full UTC days are exported")
        from shared.remediation_log import MAX_DAYS

        if (today - day).days > MAX_DAYS:
            raise ValueError(
                f"{day} is more than {MAX_DAYS} days ago: the remediation log is read back "
                "ten years at most"
            )
        wanted = [day]
    else:
        wanted = [today - timedelta(days=n) for n in range(days, 0, -1)]
        wanted = [d for d in wanted if not has_manifest(store, d)]
    results: list[DayExport] = []
    if not wanted:
        return results
    # One read of the remediation log for every day wanted, bucketed by creation day.
    by_day: dict[date, list[dict[str, Any]]] = {}
    for record in ctx.remediation_log.records(days=(today - wanted[0]).days + 1, limit=1_000_000):
        by_day.setdefault(record.created_at.astimezone(UTC).date(), []).append(record.to_json())
    for d in wanted:
        start = datetime.combine(d, time(), UTC)
        transitions = [
            transition_json(t)
            for t in ctx.store.transitions_between(start, start + timedelta(days=1))
        ]
        results.append(export_day(store, d, transitions, by_day.get(d, [])))
    return results
