"""The state store: current findings and their history in Azure Table Storage.

Why Table Storage: it is in every storage account the Function App already needs, a resource's
rows fit in one partition, and a partition can be written atomically with optimistic
concurrency (ETags), which is what at-least-once, unordered Event Grid delivery requires.

Tables (``prefix`` defaults to ``phiguard``; names are ``<prefix>state``, ``<prefix>reads``,
``<prefix>poison``, ``<prefix>events``):

``<prefix>state`` — one partition per resource, current state and history together.
    PartitionKey
        The normalized (lower-case) resource id with ``/`` written as ``|`` and every character
        outside ``[a-z0-9._()-]`` and printable non-ASCII written as ``!xxxx`` (its UTF-16
        code units in hex); so ``resourceGroups`` and ``resourcegroups`` share a partition and no key holds
        ``/ \\ # ?``, quotes or control characters. A key longer than 500 UTF-16 units (the
        service allows 1 KiB = 512) keeps its first 400 and gets ``~`` plus 32 hex digits of the
        SHA-256 of the normalized id (``~`` never occurs in an escaped id, so the two forms
        cannot collide). Every row stores the id as ARM spelled it (``resource_id``) and the
        normalized id (``resource_key``).
    RowKey ``marker`` — the resource: ``resource_type``, ``phi``, ``deleted``,
        ``last_read_at`` (when ARM was read for the newest recorded evaluation: the pipeline's
        freshness check, and the rule that older information never overwrites newer),
        ``last_recorded_at`` (wall clock of the last write), ``last_event_id`` /
        ``last_event_time`` (newest event seen), ``count_pass`` / ``count_fail`` /
        ``count_error`` / ``count_not_applicable`` / ``count_not_assessed`` / ``count_muted``
        (open rows by status; ``MUTED`` is a FAIL a mute rule covers, ``shared.mutes``) and
        ``version`` (+1 per record), ``content_digest`` (BLAKE2b, 16 bytes, of the open check
        rows' ids and content fields; empty on the markers of all but the last transaction of
        a record that needs several), ``input_digest`` (BLAKE2b of what the verdicts were
        decided on: the code, the checks, the PHI scope decided, the resource's body and
        related documents, the mute rules and whether each holds, ``Engine.input_digest``;
        empty when the record was no full evaluation: an error, a deletion, a partial scan,
        one transaction of several). Every write to the partition updates the
        marker with ``If-Match`` its ETag in the same transaction, so the marker's ETag is the
        partition's version. A sweep preloads each resource group's markers only: a resource
        whose verdicts hash to its marker's digest is known unchanged without its check rows;
        any other (a change, no digest: a marker written before digests existed, rewritten
        once) has its rows read. A resource whose inputs hash to the marker's
        ``input_digest`` is not even judged (``StateStore.confirm_unchanged_input``); one judged
        to the same verdicts from other inputs (a field no check reads, other code deployed, a
        shared list that changed) has its marker rewritten with the new digest, once.
    RowKey ``c~<check_id>`` — the current state of one check on the resource: ``status``,
        ``severity``, ``hipaa`` (JSON list), ``title``, ``reason``, ``evidence`` (JSON, at most
        32,000 UTF-16 units — the service's 64 KiB string limit — else long values are cut and
        the largest entries dropped, a ``…truncated`` entry says so and ``evidence_truncated``
        is true),
        ``phi``, ``first_failed_at`` (start of the current FAIL streak; absent unless FAIL),
        ``last_changed_at``, ``last_evaluated_at`` (the read time of the evaluation that last
        wrote the row) and the cause (``cause_kind``, ``cause_event_id``, ``cause_event_time``,
        ``cause_caller_appid``, ``cause_correlation_id``).
    RowKey ``h~<YYYYmmddTHHMMSSffffffZ>~<version, 10 digits>~<check_id>~<8 hex>`` — one status
        transition, append-only (inserted, never updated or deleted): ``from_status`` (absent
        on first sight), ``to_status``, ``reason``, ``severity``, ``at`` (the evaluation's read
        time), ``recorded_at`` and the cause. Keys sort by read time, then by the marker version
        that committed them (two workers may read at the same instant), so a partition range
        query returns a resource's history oldest first. No TTL, no clean-up: HIPAA documentation is kept at
        least six years (45 CFR 164.316(b)(2)).

``<prefix>reads`` — reads a sweep confirmed: a read that found the resource's record as it
    stands (nothing but the read time would move) is not written to the marker, one request per
    resource, but here, in transactions of up to 100 when the sweep has recorded the resource's
    group. PartitionKey = the resource group's key prefix (``|subscriptions|<id>|resourcegroups|
    <name>|``; a subscription's own key plus ``|``), RowKey = the resource's PartitionKey;
    ``resource_id``, ``read_at`` and ``marker_etag`` (the ETag of the marker the read was
    compared with). Before writing a group's rows the store reads its markers' ETags (one query,
    ``$select``): a read compared with rows preloaded before another writer recorded the
    resource is not confirmed but handed back to the sweep, which reads it again. A row vouches
    for its read only while the marker keeps that ETag: any write to it since (a record, a
    deletion, a cleared follow-up) voids it, and one dated more than five minutes ahead of
    the reader's clock vouches for nothing. ``current()`` (so ``status``, reports, OSCAL) and
    the sweep's search for unlisted resources take the newer of the two read times; the event
    path's freshness check and the stale-read guard read the marker alone (an event is then
    re-read where the row would have let it be coalesced; a read older than the sweep's that
    found a change, in flight while the sweep read, is recorded, and the next event or sweep
    corrects it).

``<prefix>poison`` — events that could not be processed: PartitionKey ``YYYYmmdd``, RowKey time
    plus a random suffix, the source, the error and the raw payload (UTF-8 text, else base64)
    split over ``raw_0``..``raw_14`` (≤ 480,000 units; longer payloads are cut and flagged,
    their full length and SHA-256 kept).

``<prefix>events`` — processed event ids, insert-only: PartitionKey = first two hex digits of
    the SHA-256 of the id (spreads load), RowKey = the escaped id. Event Grid retries for 24 h,
    so rows older than that may be purged by an operator; nothing here depends on them staying.
    The pipeline writes only the events the resource's marker cannot vouch for (newer than its
    ``last_read_at``); a redelivery of the others is coalesced by the marker.

Modules (only :mod:`shared.state.tables` and :mod:`shared.state.plan` import the storage SDK;
names with a leading underscore are shared between these modules, not outside the package):

* :mod:`shared.state.model` — what callers name: :class:`~shared.state.model.StateStore`,
  :class:`~shared.state.model.RecordOutcome`, :class:`~shared.state.model.StoredFinding`,
  :class:`~shared.state.model.Transition`, :class:`~shared.state.model.ResourceMarker`,
  :class:`~shared.state.model.PoisonRecord`, the inactive statuses;
* :mod:`shared.state.keys` — partition and row keys (escaping, hashing);
* :mod:`shared.state.entities` — rows as entities and back, bounded text and evidence;
* :mod:`shared.state.plan` — the writes a record needs, grouped into transactions;
* :mod:`shared.state.tables` — :class:`~shared.state.tables.TableStateStore`: reads, commits
  and retries.
"""
