"""The composition root: settings, engine, reader, store and pipeline, built once and lazily.

Functions reuse one worker process across invocations, so clients built here are reused; nothing
is built at import time (cold start).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from shared.config import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.actions import PostRecordActions
    from shared.arm import ArmReader, ArmWriter
    from shared.engine import Engine
    from shared.followup import FollowUps
    from shared.issues.ledger import TableIssueLedger
    from shared.issues.sender import FindingState
    from shared.issues.settings import IssueSettings, Trackers
    from shared.mutes import TableMutes
    from shared.notify.model import Notifier
    from shared.notify.settings import NotifySettings
    from shared.outbox.dispatcher import Dispatcher
    from shared.outbox.model import Channel, Sender
    from shared.outbox.store import TableOutbox
    from shared.pipeline import Pipeline
    from shared.remediation import Remediator
    from shared.remediation_log import TableRemediationLog
    from shared.selection import Selection
    from shared.state.tables import TableStateStore


@dataclass
class AppContext:
    settings: Settings
    # The notification and tracker settings' source (None: the process environment).
    environ: Mapping[str, str] | None = field(default=None, repr=False)
    # The checks to run (CLI flags); None: the settings' (PHIGUARD_CHECKS / EXCLUDED_CHECKS).
    selection: Selection | None = None
    # A report-only run (``scan --no-store``): findings kept in memory, nothing written, no
    # fixes, issues or notices; mute rules are still read when a store is configured.
    report_only: bool = False

    @cached_property
    def engine(self) -> Engine:
        from checks import CATALOG
        from shared.engine import Engine

        deployed = self.settings.selection()
        selection = self.selection if self.selection is not None else deployed
        engine = Engine.selected(selection, self.settings.phi_scope())
        if (
            self.selection is not None
            and not deployed.apply(CATALOG).keys() <= engine.catalog.keys()
        ):
            engine.partial = True
        if not self.report_only or self.settings.has_storage:
            engine.mutes = lambda: self.mutes.cached_rules()
        engine.mute_max_days = self.settings.mute_max_days
        # Records in the store keep what their verdicts were decided on; a report keeps none.
        engine.remember_inputs = not self.report_only
        return engine

    @cached_property
    def mutes(self) -> TableMutes:
        from shared.mutes import TableMutes
        from shared.tables import table_service

        mutes = TableMutes(table_service(self.settings), prefix=self.settings.table_prefix)
        mutes.ensure_tables()
        return mutes

    @cached_property
    def reader(self) -> ArmReader:
        from shared.arm import ArmReader
        from shared.credentials import arm_credential

        return ArmReader.from_settings(self.settings, arm_credential(self.settings))

    @cached_property
    def store(self) -> TableStateStore:
        from shared.state.tables import TableStateStore
        from shared.tables import table_service

        store = TableStateStore(table_service(self.settings), prefix=self.settings.table_prefix)
        store.ensure_tables()
        return store

    @cached_property
    def remediation_log(self) -> TableRemediationLog:
        from shared.remediation_log import TableRemediationLog
        from shared.tables import table_service

        log = TableRemediationLog(table_service(self.settings), prefix=self.settings.table_prefix)
        log.ensure_tables()
        return log

    @cached_property
    def writer(self) -> ArmWriter:
        from shared.arm import ArmWriter
        from shared.credentials import arm_credential

        return ArmWriter.from_settings(self.settings, arm_credential(self.settings))

    @cached_property
    def remediator(self) -> Remediator:
        from shared.remediation import Remediator

        return Remediator(
            self.engine, self.reader, self.writer, self.remediation_log, self.settings
        )

    @cached_property
    def actions(self) -> PostRecordActions:
        from shared.actions import PostRecordActions

        return PostRecordActions(self.engine, self.store, self.remediator, self.followups)

    @cached_property
    def pipeline(self) -> Pipeline:
        from shared.pipeline import Pipeline

        if self.report_only:
            from shared.state.memory import ReportOnlyStore

            return Pipeline(self.engine, self.reader, ReportOnlyStore())
        actions = self.actions
        return Pipeline(
            self.engine,
            self.reader,
            self.store,
            after_record=actions,
            catch_up=actions.catch_up,
            may_catch_up=actions.may_catch_up,
            recorded=actions.recorded,
            follow_up_batch=actions.sweep_batch,
        )

    # -- people: issues, notices, the outbox ----------------------------------------------------

    @cached_property
    def notify_settings(self) -> NotifySettings:
        from shared.notify.settings import NotifySettings

        return NotifySettings.from_env(self.environ)

    @cached_property
    def issue_settings(self) -> IssueSettings:
        from shared.issues.settings import IssueSettings

        return IssueSettings.from_env(self.environ)

    @cached_property
    def outbox(self) -> TableOutbox:
        from shared.outbox.store import TableOutbox
        from shared.tables import table_service

        outbox = TableOutbox(table_service(self.settings), prefix=self.settings.table_prefix)
        outbox.ensure_tables()
        return outbox

    @cached_property
    def issue_ledger(self) -> TableIssueLedger:
        from shared.issues.ledger import TableIssueLedger
        from shared.tables import table_service

        ledger = TableIssueLedger(table_service(self.settings), prefix=self.settings.table_prefix)
        ledger.ensure_tables()
        return ledger

    @cached_property
    def trackers(self) -> Trackers | None:
        from shared.issues.settings import Trackers

        if not self.issue_settings.enabled:
            return None
        return Trackers(
            self.issue_settings, ca_cert=self.settings.ca_cert, credential=self._devops_credential
        )

    def _devops_credential(self) -> object:
        return self._identity_for(self.issue_settings.devops_url)

    def _identity_for(self, url: str) -> TokenCredential:
        """The app's managed identity for a service at ``url``; the local dev credential for a
        loopback stand-in (the simulated tenant)."""
        from shared.credentials import LoopbackDevCredential, is_loopback_url, storage_credential

        if is_loopback_url(url):
            return LoopbackDevCredential()
        return storage_credential(self.settings)

    @cached_property
    def notifiers(self) -> dict[Channel, Notifier]:
        from shared.notify.settings import build_senders

        notify = self.notify_settings
        credential = self._identity_for(notify.acs_endpoint) if notify.acs_endpoint else None
        return build_senders(
            notify,
            credential=credential,
            ca_cert=self.settings.ca_cert,
            extra_secrets=self.issue_settings.secrets(),
        )

    @cached_property
    def people_error(self) -> str | None:
        """Why the people side (issues, notices) is off although configured: a bad setting,
        named (never its value). The pipeline runs without it rather than not at all."""
        from shared.config import SettingsError

        try:
            self.notifiers  # noqa: B018 - parsing the settings is the point
            self.trackers  # noqa: B018
        except SettingsError as exc:
            logging.getLogger("phiguard").error("issues and notifications are off: %s", exc)
            return str(exc)
        return None

    @cached_property
    def followups(self) -> FollowUps | None:
        from shared.followup import FollowUps

        if self.people_error is not None or (not self.notifiers and self.trackers is None):
            return None
        return FollowUps(
            self.engine.catalog,
            self.outbox,
            self.notifiers,
            self.trackers,
            self.issue_ledger if self.trackers is not None else None,
            self.notify_settings.routing,
            secrets=(*self.notify_settings.secrets(), *self.issue_settings.secrets()),
            immediate_per_hour=self.notify_settings.immediate_per_hour,
        )

    def senders(self) -> dict[Channel, Sender]:
        """Every configured channel's outbox sender: the notifiers and the issue trackers."""
        from shared.issues.sender import CHANNELS, IssueSender

        senders: dict[Channel, Sender] = dict(self.notifiers)
        trackers = self.trackers
        if trackers is not None:
            backends = {r.backend for r in self.issue_settings.routes.by_scope.values()}
            for backend in backends:
                channel = CHANNELS[backend]
                senders[channel] = IssueSender(
                    channel, trackers.for_target, self.finding_state, self.issue_ledger
                )
        return senders

    def finding_state(self, resource_id: str, check_id: str) -> FindingState | None:
        from shared.issues.sender import FindingState

        for row in self.store.current(resource_id):
            if row.check_id == check_id:
                return FindingState(row.status, row.last_changed_at)
        return None

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from shared.outbox.dispatcher import (
            ACS_EMAIL_QUOTA,
            GITHUB_CONTENT_QUOTA,
            TEAMS_WEBHOOK_QUOTA,
            Dispatcher,
        )
        from shared.outbox.model import Channel

        notify = self.notify_settings
        limits = {Channel.GITHUB: GITHUB_CONTENT_QUOTA, Channel.TEAMS: TEAMS_WEBHOOK_QUOTA}
        if notify.email_transport == "acs":
            limits[Channel.EMAIL] = ACS_EMAIL_QUOTA
        return Dispatcher(
            self.outbox,
            self.senders(),
            max_attempts=notify.outbox_max_attempts,
            base_delay=notify.outbox_base_delay_seconds,
            max_delay=notify.outbox_max_delay_seconds,
            rate_limits=limits,
        )


_lock = threading.Lock()
_context: AppContext | None = None


def app_context() -> AppContext:
    """The process-wide context, built on first use from the environment."""
    global _context
    with _lock:
        if _context is None:
            _context = AppContext(Settings.from_env())
        return _context


def reset_app_context(context: AppContext | None = None) -> None:
    """Replaces the process-wide context (tests; a settings change)."""
    global _context
    with _lock:
        _context = context
