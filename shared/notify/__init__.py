"""People hear about it: Teams cards and email, through the outbox (``shared.outbox``).

* :mod:`shared.notify.model` — the notices (a new CRITICAL/HIGH failure on a PHI resource, a fix
  applied, an escalation, a digest), their builders (which drop tag values and evidence), the
  :class:`~shared.notify.model.Notifier` protocol and :func:`~shared.notify.model.outbox_item`.
* :mod:`shared.notify.guard` — the PHI / secret guard every rendered payload passes.
* :mod:`shared.notify.routing` — email recipients by severity, subscription, resource group and
  owner tag (the ``PHIGUARD_NOTIFY_*`` settings parsed).
* :mod:`shared.notify.cards` / :mod:`shared.notify.teams` — Adaptive Cards 1.5 and
  :class:`~shared.notify.teams.TeamsNotifier` (a Workflows / incoming webhook).
* :mod:`shared.notify.email`, :mod:`shared.notify.acs`, :mod:`shared.notify.smtp` — HTML and
  text email (jinja2, autoescaped), sent by Azure Communication Services or an SMTP relay.

A notice is rendered (and guarded) once, when it is enqueued; the outbox then sends the payload
as it is, through the notifier (every notifier is also an outbox ``Sender``).
"""

from shared.notify.guard import PayloadGuard, PayloadLeak
from shared.notify.model import (
    Digest,
    Escalation,
    FixApplied,
    NewFailure,
    Notice,
    Notifier,
    TestMessage,
    outbox_item,
)

__all__ = [
    "Digest",
    "Escalation",
    "FixApplied",
    "NewFailure",
    "Notice",
    "Notifier",
    "PayloadGuard",
    "PayloadLeak",
    "TestMessage",
    "outbox_item",
]
