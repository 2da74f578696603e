"""Where access reviews are kept: Blob Storage, container ``access-reviews``, one folder per ISO
week (``access-reviews/2026-W49/access-review.{html,csv,json}``, ``summary.json``, and the
reviewers' ``decisions/*.json``). Re-running a week overwrites its files: a week has one review.

Locally (``--out DIR`` with no storage configured) the same layout in a directory.
Retention (≥ 6 years, §164.316(b)(2)) is the storage account's job: a lifecycle rule or an
immutability policy on the container (infra/), not this module's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.config import Settings

CONTAINER = "access-reviews"
_WEEK = re.compile(r"^(\d{4}-W\d{2})/")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


class ReviewStore(Protocol):
    """Where reviews are written and read back (last week's, the trend)."""

    where: str

    def write(self, week: str, name: str, data: bytes) -> str: ...

    def read(self, week: str, name: str) -> bytes | None: ...

    def weeks(self) -> list[str]: ...


def _type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


class BlobReviewStore:
    """The ``access-reviews`` container through azure-storage-blob."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.where = str(container.url)
        self._created = False

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobReviewStore:
        from shared.tables import blob_service

        service = blob_service(settings)
        return cls(service.get_container_client(CONTAINER))

    def _ensure(self) -> None:
        if self._created:
            return
        from shared.evidence import create_container_if_allowed

        create_container_if_allowed(self._container)  # a 403 (no right to create) passes
        self._created = True

    def write(self, week: str, name: str, data: bytes) -> str:
        from azure.storage.blob import ContentSettings

        self._ensure()
        blob = f"{week}/{name}"
        self._container.upload_blob(
            blob, data, overwrite=True, content_settings=ContentSettings(content_type=_type(name))
        )
        return f"{self.where}/{blob}"

    def read(self, week: str, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data: bytes = self._container.download_blob(f"{week}/{name}").readall()
        except ResourceNotFoundError:
            return None
        return data

    def weeks(self) -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            names = [b.name for b in self._container.list_blobs(name_starts_with="")]
        except ResourceNotFoundError:
            return []
        return sorted({m.group(1) for n in names if (m := _WEEK.match(n))})


class LocalReviewStore:
    """The same layout in a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def write(self, week: str, name: str, data: bytes) -> str:
        path = self.root / week / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return str(path)

    def read(self, week: str, name: str) -> bytes | None:
        path = self.root / week / name
        return path.read_bytes() if path.is_file() else None

    def weeks(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and re.fullmatch(r"\d{4}-W\d{2}", p.name)
        )
