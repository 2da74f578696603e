"""The composition root: settings, engine, reader, store and pipeline, built once and lazily.

Functions reuse one worker process across invocations, so clients built here are reused; nothing
is built at import time (cold start).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from shared.config import Settings

if TYPE_CHECKING:
    from shared.arm import ArmReader, ArmWriter
    from shared.engine import Engine
    from shared.pipeline import Pipeline
    from shared.remediation import Remediator
    from shared.remediation_log import TableRemediationLog
    from shared.state.tables import TableStateStore


@dataclass
class AppContext:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        from shared.engine import Engine

        return Engine(phi_scope=self.settings.phi_scope())

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
    def pipeline(self) -> Pipeline:
        from shared.actions import PostRecordActions
        from shared.pipeline import Pipeline

        actions = PostRecordActions(self.engine, self.store, self.remediator)
        return Pipeline(
            self.engine, self.reader, self.store, after_record=actions, catch_up=actions.catch_up
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
