"""An issue whose body would not fit one outbox row (evidence full of characters escaping
multiplies) is still enqueued: HTML dropped first, then the Markdown cut, the marker kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.followup import _fitting
from shared.issues.model import Fingerprint, IssueContent
from shared.issues.sender import issue_item
from shared.outbox.model import OutboxItem, PayloadTooLarge
from shared.outbox.store import TableOutbox
from sim.azurite import AzuriteEndpoints

RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
FP = Fingerprint.of(RID, "storage_account_min_tls_1_2")
T0 = datetime(2026, 12, 6, tzinfo=UTC)


def _make(content: IssueContent) -> OutboxItem:
    return issue_item(
        "open",
        target="github:contoso/phi",
        fingerprint=FP,
        resource_id=RID,
        check_id="storage_account_min_tls_1_2",
        as_of=T0,
        key_suffix="k",
        content=content,
    )


def test_a_huge_issue_is_cut_to_one_row_and_keeps_its_marker(azurite: AzuriteEndpoints) -> None:
    outbox = TableOutbox.from_connection_string(
        azurite.connection_string, prefix="fit" + uuid.uuid4().hex[:10]
    )
    outbox.ensure_tables()
    small = IssueContent("t", "body", body_html="<p>body</p>")
    assert _fitting(_make, small, FP).payload["content"]["body_html"] == "<p>body</p>"
    body = "\\&" * 20_000 + f"\n<!-- {FP.marker} -->\n"
    html = "&amp;" * 20_000
    huge = IssueContent("t", body, body_html=html)
    with pytest.raises(PayloadTooLarge):
        outbox.enqueue(_make(huge))  # what the follow-up used to do: fail on every event
    item = _fitting(_make, huge, FP)
    content = item.payload["content"]
    assert content["body_html"] == ""
    assert content["body"].endswith(f"<!-- {FP.marker} -->\n") and "cut to fit" in content["body"]
    assert outbox.enqueue(item)  # one table row: it would have raised PayloadTooLarge before
