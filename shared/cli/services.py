"""The services a command talks to: settings from the environment with the command's flags on
top, the composition root, and the preflight probes of the state store and ARM (one short attempt
each, so an unreachable service is reported in seconds, exit 3); and the checks of resource and
subscription ids given on the command line (exit 2)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.cli.exit_codes import IncompleteError, UsageError
from shared.safe_text import inert, one_line

if TYPE_CHECKING:
    from shared.arm import ArmReader
    from shared.config import Settings
    from shared.context import AppContext
    from shared.selection import Selection

# The preflight probes of the state store and ARM: one attempt each, this long at most, so an
# unreachable service is reported in seconds instead of after every resource's retries.
PROBE_SECONDS = 5.0
_TABLE_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,55}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command's flags on top; bad values are usage
    errors naming the setting or flag."""
    from shared.config import Settings, SettingsError

    arm_url = getattr(args, "arm_url", None)
    if arm_url is not None and not arm_url.startswith("https://"):
        raise UsageError(
            f"--arm-url: {inert(arm_url)!r} must be an https:// URL "
            "(bearer tokens are never sent over plain http)"
        )
    try:
        settings = Settings.from_env().with_overrides(
            arm_url=arm_url.rstrip("/") if arm_url else None,
            ca_cert=getattr(args, "ca_cert", None),
            storage_connection_string=getattr(args, "storage_connection_string", None),
        )
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if settings.ca_cert is not None and not Path(settings.ca_cert).is_file():
        raise UsageError(f"--ca-cert: no such file {settings.ca_cert!r}")
    return settings


def app_context(
    args: argparse.Namespace,
    *,
    arm: bool = False,
    subscriptions: Sequence[str] = (),
    settings: Settings | None = None,
    selection: Selection | None = None,
    report_only: bool = False,
    sweeps: bool = False,
) -> AppContext:
    """The composition root for a command that uses the state store (and ARM with ``arm``),
    after probing them: exit 3 within seconds when one is unreachable. ``sweeps``: the command
    sweeps ``subscriptions``, so ARM is probed with their resource-group lists, kept for the
    sweep (see :func:`probe_arm`)."""
    from shared.config import SettingsError
    from shared.context import AppContext, reset_app_context

    settings = settings or settings_from_args(args)
    try:
        if not report_only:
            settings.require_storage()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if not _TABLE_PREFIX.fullmatch(settings.table_prefix):
        raise UsageError(
            f"PHIGUARD_TABLE_PREFIX: {inert(settings.table_prefix)!r} must be 1-56 letters and "
            "digits, starting with a letter"
        )
    if settings.has_storage:
        probe_store(settings, flag=getattr(args, "storage_connection_string", None) is not None)
    groups: dict[str, dict[str, Mapping[str, Any]]] = {}
    if arm:
        flag = getattr(args, "arm_url", None) is not None
        groups = probe_arm(settings, subscriptions, flag=flag, groups=sweeps)
    context = AppContext(settings, selection=selection, report_only=report_only)
    for subscription, listed in groups.items():
        context.reader.prime_resource_groups(subscription, listed)
    reset_app_context(context)
    return context


def connection_string_problem(value: str) -> str | None:
    """What is wrong with a storage connection string's shape, never quoting it (it holds a
    key); None when it has the parts a Tables client needs."""
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            return "expected `Name=value;` pairs"
        pairs[key.strip().lower()] = val.strip()
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        return None
    if not pairs.get("accountkey") and not pairs.get("sharedaccesssignature"):
        return "no AccountKey or SharedAccessSignature"
    if not pairs.get("accountname") and not pairs.get("tableendpoint"):
        return "no AccountName or TableEndpoint"
    return None


def probe_store(settings: Settings, *, flag: bool) -> None:
    """One short request to the state store: a usage error for a malformed setting, an
    :class:`IncompleteError` naming the endpoint when it cannot be reached or refuses us."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    from shared.http import transport
    from shared.tables import table_service

    if settings.storage_connection_string:
        setting = "--storage-connection-string" if flag else "PHIGUARD_STORAGE_CONNECTION_STRING"
        problem = connection_string_problem(settings.storage_connection_string)
        if problem is not None:
            raise UsageError(f"{setting}: not a storage connection string: {problem}")
        malformed = f"{setting}: not a valid storage connection string ({{}})"
    else:
        setting = "PHIGUARD_STORAGE_ACCOUNT_URL"
        url = str(settings.storage_account_url)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise UsageError(f"{setting}: {inert(url)!r} is not an https:// table endpoint")
        malformed = f"{setting}: {{}}"
    http = transport(timeout_seconds=PROBE_SECONDS, pool_size=1)
    try:
        client = table_service(settings, transport=http, retry_total=0)
    except (ValueError, TypeError) as exc:
        raise UsageError(malformed.format(one_line(exc))) from None
    found = urlsplit(client.url)
    endpoint = f"{found.scheme}://{found.netloc}{found.path}"  # never the query (a SAS)
    try:
        pages = client.query_tables(
            "TableName eq @name",
            parameters={"name": f"{settings.table_prefix}state"},
            results_per_page=1,
        )
        next(iter(pages), None)
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise IncompleteError(
            f"state store unreachable at {endpoint} ({setting}): {_cause(exc)}"
        ) from None
    except ClientAuthenticationError as exc:
        raise IncompleteError(
            f"state store at {endpoint} ({setting}) refused access: {_cause(exc)}"
        ) from None
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status in (401, 403) or status >= 500:
            raise IncompleteError(
                f"state store at {endpoint} ({setting}) answered HTTP {status}: {_cause(exc)}"
            ) from None
        # Any other answer: the store is there; the command's own requests will tell more.
    finally:
        client.close()


def probe_arm(
    settings: Settings, subscriptions: Sequence[str], *, flag: bool, groups: bool = False
) -> dict[str, dict[str, Mapping[str, Any]]]:
    """One short GET per subscription (or of ``/subscriptions``): ARM unreachable, refusing or
    not knowing a subscription is an :class:`IncompleteError` naming the endpoint.

    With ``groups`` (a sweep follows), the probe of a subscription is its resource-group list
    instead, which ARM answers 404 (``SubscriptionNotFound``) or 403 as it answers a GET of the
    subscription, and which the sweep needs anyway: the groups come back by subscription, for
    :meth:`ArmReader.prime_resource_groups`, so the sweep does not list them again."""
    from shared.arm import ArmReader
    from shared.credentials import arm_credential

    setting = "--arm-url" if flag else "PHIGUARD_ARM_URL"
    endpoint = settings.arm_url
    reader = ArmReader(
        endpoint,
        arm_credential(settings),
        ca_cert=settings.ca_cert,
        max_retries=0,
        retry_budget_seconds=PROBE_SECONDS,
        timeout_seconds=PROBE_SECONDS,
        pool_size=1,
    )
    try:
        return _probe_subscriptions(reader, endpoint, setting, subscriptions, groups)
    finally:
        reader.close()  # the probe's own connection pool


def _probe_subscriptions(
    reader: ArmReader, endpoint: str, setting: str, subscriptions: Sequence[str], groups: bool
) -> dict[str, dict[str, Mapping[str, Any]]]:
    from azure.core.exceptions import ClientAuthenticationError

    from shared.arm import ArmError, TransientArmError
    from shared.arm.reader import RESOURCE_GROUPS_VERSION, groups_by_id, resource_groups_path
    from shared.kernel import api_versions

    listed: dict[str, dict[str, Mapping[str, Any]]] = {}
    targets: list[str | None] = list(subscriptions) or [None]
    version = api_versions.for_type("microsoft.resources/subscriptions")
    for subscription in targets:
        try:
            if subscription is None:
                reader.get("/subscriptions", version, "probe")
                continue
            if groups:
                path = resource_groups_path(subscription)
                first = reader.get(path, RESOURCE_GROUPS_VERSION, "resource_group")
            else:
                first = reader.get(f"/subscriptions/{subscription}", version, "probe")
            if first is None:
                raise IncompleteError(
                    f"subscription {subscription} not found at {endpoint} (ARM answered 404)"
                )
            if groups:
                items = reader.items_from(first, path, RESOURCE_GROUPS_VERSION, "resource_group")
                listed[subscription] = groups_by_id(items)
        except TransientArmError as exc:
            raise IncompleteError(
                f"ARM unreachable at {endpoint} ({setting}): {_cause(exc)}"
            ) from None
        except ClientAuthenticationError as exc:
            raise IncompleteError(f"no token for ARM at {endpoint}: {_cause(exc)}") from None
        except ArmError as exc:
            if subscription is None:
                continue  # ARM answered: it is reachable
            raise IncompleteError(
                f"subscription {subscription}: ARM at {endpoint} refused it: {_cause(exc)}"
            ) from None
    return listed


def _cause(exc: BaseException) -> str:
    """An exception's message on one line, for a probe's error (azure-core's are long)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return one_line(message, limit=300)


def resource_arg(value: str, flag: str = "--resource") -> str:
    """A resource id given on the command line, refused (2) unless ARM could have returned it.
    It is read (and may be written) at the URL it makes, so it must also be canonical, like an
    event's id: no dot segments, no ``?``, ``#``, ``%``, backslash or control characters."""
    from shared.kernel.resource_id import ResourceIdError, canonical
    from shared.loader import id_problem

    problem = id_problem(value)
    if problem is None:
        try:
            canonical(value)
        except ResourceIdError as exc:
            problem = str(exc)
    if problem is not None:
        raise UsageError(f"{flag}: {inert(problem)}")
    return value


def subscription_ids(given: Sequence[str] | None, settings: Settings | None) -> list[str]:
    """Subscription ids from ``--subscription`` (else the settings), each a GUID."""
    source = "--subscription" if given else "PHIGUARD_SUBSCRIPTIONS"
    found = list(given or (settings.subscriptions if settings else ()))
    for subscription in found:
        if not _GUID.fullmatch(subscription.strip()):
            raise UsageError(f"{source}: {inert(subscription)!r} is not a subscription id (a GUID)")
    unique = {s.strip().lower(): s.strip() for s in reversed(found)}  # first spelling kept
    return [unique[k] for k in dict.fromkeys(s.strip().lower() for s in found)]
