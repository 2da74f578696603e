"""What phiguard knows of the issues it opened: one row per fingerprint in ``<prefix>issues``.

PartitionKey
    The fingerprint (16 hex digits): one partition per finding, so a row is read by point query.
RowKey
    ``issue``.
Properties
    ``target`` (``github:owner/repo``), ``number`` (the issue number / work item id), ``url``,
    ``state`` (open / closed), ``resource_id``, ``check_id``, ``updated_at``.

Written by the issue sender after each operation the tracker confirmed. It lets the pipeline
skip a close for a finding that never had an issue (most FAIL → PASS transitions are fixes
phiguard made itself) and lets ``phiguard issues sync`` find the open issues to reconcile. The
tracker stays the truth: the sender always finds the issue by fingerprint before acting, so a
lost ledger write costs at most a wasted lookup, never a duplicate issue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from shared.issues.model import Fingerprint, IssueState, TrackedIssue
from shared.tables import TablesBacked

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

_ROW = "issue"


@dataclass(frozen=True)
class LedgerEntry:
    fingerprint: Fingerprint
    target: str
    number: int
    url: str
    state: IssueState
    resource_id: str
    check_id: str
    updated_at: datetime


class TableIssueLedger(TablesBacked):
    def __init__(self, service: TableServiceClient, prefix: str = "phiguard") -> None:
        self.service = service
        self.table_name = f"{prefix}issues"
        self._table = service.get_table_client(self.table_name)

    def ensure_tables(self) -> None:
        self.service.create_table_if_not_exists(self.table_name)

    def get(self, fingerprint: Fingerprint) -> LedgerEntry | None:
        try:
            return _entry(self._table.get_entity(fingerprint.value, _ROW))
        except ResourceNotFoundError:
            return None

    def put(
        self, target: str, issue: TrackedIssue, resource_id: str, check_id: str, at: datetime
    ) -> None:
        from azure.data.tables import UpdateMode

        self._table.upsert_entity(
            {
                "PartitionKey": issue.fingerprint.value,
                "RowKey": _ROW,
                "target": target,
                "number": issue.id,
                "url": issue.url,
                "state": issue.state,
                "resource_id": resource_id,
                "check_id": check_id,
                "updated_at": at.astimezone(UTC),
            },
            mode=UpdateMode.REPLACE,
        )

    def entries(self, state: IssueState | None = None) -> Iterator[LedgerEntry]:
        if state is None:
            found = self._table.list_entities()
        else:
            found = self._table.query_entities("state eq @s", parameters={"s": state})
        for entity in found:
            entry = _entry(entity)
            if entry is not None:
                yield entry


def _entry(entity: Any) -> LedgerEntry | None:
    try:
        state = str(entity["state"])
        at = entity["updated_at"]
        return LedgerEntry(
            Fingerprint(str(entity["PartitionKey"])),
            str(entity["target"]),
            int(entity["number"]),
            str(entity["url"]),
            "closed" if state == "closed" else "open",
            str(entity["resource_id"]),
            str(entity["check_id"]),
            at if isinstance(at, datetime) else datetime.fromisoformat(str(at)),
        )
    except (KeyError, ValueError, TypeError):
        return None  # a row this version did not write: the tracker is asked instead
