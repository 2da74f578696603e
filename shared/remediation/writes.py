"""How the remediator writes: every write conditional, and what an attempt has written so far.

A write carries the ETag its plan was made from (``If-Match``: ARM answers 412 when the document
changed since), creates only (``If-None-Match``), or, for documents without an ETag in their
body, the values the plan saw: the target is re-read and compared, then written with the ETag of
that read. Any difference is a :class:`~shared.arm.PreconditionFailed` (412), as ARM's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remediations.plan import Plan, Write
    from shared.arm import ArmWriter, WriteResult
    from shared.arm.writer import WriteCondition


@dataclass
class Progress:
    """The writes of one attempt that landed, with the values they changed."""

    done: list[Write] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)

    def add(self, write: Write, plan: Plan) -> None:
        self.done.append(write)
        for path in write.paths:
            self.before.setdefault(path, plan.before.get(path))
            self.after[path] = plan.after.get(path)


def write_conditionally(
    writer: ArmWriter, write: Write, correlation: str, etags: dict[str, str]
) -> WriteResult:
    """Applies one write under its condition, sending ``correlation`` (the loop guard's id).
    ``etags`` maps the ETags plans were made from to the ones earlier writes of the same attempt
    left (sibling writes share their parent's ETag) and is updated."""
    from azure.core import MatchConditions

    from remediations.paths import document_value
    from remediations.plan import same
    from shared.arm import PreconditionFailed

    if_match = etags.get(write.if_match, write.if_match) if write.if_match else None
    if write.expect and not if_match and not write.if_none_match:
        current, etag = writer.read(write.target_id, write.api_version)
        if current is None:
            raise PreconditionFailed(412, "Gone", "the target no longer exists", write.target_id)
        changed = [p for p, v in write.expect.items() if not same(document_value(current, p), v)]
        if changed:
            raise PreconditionFailed(
                412,
                "ChangedSinceRead",
                f"{', '.join(changed)} changed since the plan was made",
                write.target_id,
            )
        if_match = etag
    condition = MatchConditions.IfNotModified if if_match else None
    if write.method == "PUT" and write.if_none_match:
        condition = MatchConditions.IfMissing
    how: WriteCondition = {
        "etag": if_match,
        "match_condition": condition,
        "correlation_id": correlation,
    }
    if write.method == "PUT":
        result = writer.put(write.target_id, write.api_version, write.body or {}, **how)
    elif write.method == "PATCH":
        result = writer.patch(write.target_id, write.api_version, write.body or {}, **how)
    else:
        result = writer.delete(write.target_id, write.api_version, **how)
    if write.if_match and result.etag:
        # Sibling writes (rules of one NSG) share their parent's etag: chain it.
        etags[write.if_match] = result.etag
    return result
