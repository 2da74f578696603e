"""The evidence blobs' media types, without Azurite: the day files are NDJSON, the manifest is
one JSON document (RFC 8259 ``application/json``), and nothing is ever overwritten."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from shared.evidence import BlobEvidenceStore, export_day


class _Container:
    """The few ``ContainerClient`` calls the store makes, recorded."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.uploads: list[tuple[str, dict[str, Any]]] = []

    def create_container(self) -> None:
        return None

    def download_blob(self, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        if name not in self.blobs:
            raise ResourceNotFoundError("The specified blob does not exist.")
        data = self.blobs[name]

        class _Downloader:
            def readall(self) -> bytes:
                return data

        return _Downloader()

    def upload_blob(self, name: str, data: bytes, **kwargs: Any) -> None:
        self.uploads.append((name, kwargs))
        self.blobs[name] = data


def test_the_manifest_is_application_json_and_the_day_files_ndjson() -> None:
    container = _Container()
    store = BlobEvidenceStore(container)
    out = export_day(store, date(2026, 12, 5), [{"check_id": "c", "to": "FAIL"}], [])
    types = {name: kwargs["content_type"] for name, kwargs in container.uploads}
    assert types == {
        "history/2026/12/05.ndjson": "application/x-ndjson; charset=utf-8",
        "remediations/2026/12/05.ndjson": "application/x-ndjson; charset=utf-8",
        "manifest/2026/12/05.json": "application/json; charset=utf-8",
    }
    assert all(kwargs["overwrite"] is False for _, kwargs in container.uploads)
    manifest = json.loads(container.blobs[out.files["manifest"]])  # one JSON document
    assert manifest["files"]["history"]["records"] == 1
