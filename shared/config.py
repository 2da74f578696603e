"""Settings: one typed object read once from app settings / the environment (``PHIGUARD_*``).

The CLI reads the same settings; its flags override them. Every setting is listed in
:data:`SETTINGS_DOC`, which the README's settings table is generated from (a test keeps them equal).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from shared.kernel.errors import PhiguardError
from shared.kernel.phi_scope import DEFAULT_TAG_RULES, PhiScope

if TYPE_CHECKING:
    from shared.selection import Selection

PREFIX = "PHIGUARD_"


class SettingsError(PhiguardError, ValueError):
    """A setting has a bad value; the message names the setting."""


# name (without prefix), default shown to users, meaning
CORE_SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    (
        "STORAGE_CONNECTION_STRING",
        "(none)",
        "Table/Blob storage connection string (Azurite locally). Either this or STORAGE_ACCOUNT_URL.",
    ),
    (
        "STORAGE_ACCOUNT_URL",
        "(none)",
        "Table endpoint of the storage account, used with the managed identity (production).",
    ),
    ("TABLE_PREFIX", "phiguard", "Prefix of the Azure Tables phiguard creates."),
    ("ARM_URL", "https://management.azure.com", "Azure Resource Manager endpoint."),
    (
        "CA_CERT",
        "(none)",
        "Extra CA bundle (PEM) trusted for ARM calls; the simulated tenant's CA.",
    ),
    (
        "SUBSCRIPTIONS",
        "(none)",
        "Comma-separated subscription ids in scope (sweep, access review); events of any other "
        "subscription are counted and ignored. Empty: events of every subscription are "
        "processed (local use only; set it in a deployment).",
    ),
    ("PHI_SUBSCRIPTIONS", "(none)", "Subscriptions whose every resource is PHI-scoped."),
    (
        "PHI_RESOURCE_GROUPS",
        "(none)",
        "Resource group ids (comma-separated) whose every resource is PHI-scoped.",
    ),
    (
        "PHI_TAGS",
        "data-classification=phi|ephi;hipaa=true",
        "Tags that put a resource or its resource group in PHI scope (names and values "
        "case-insensitive): `name=v1|v2;name2=v`.",
    ),
    (
        "MANAGED_IDENTITY_CLIENT_ID",
        "(none)",
        "Client id of a user-assigned managed identity; system-assigned when empty.",
    ),
    (
        "RECONCILE_SCHEDULE",
        "0 30 2 * * *",
        "NCRONTAB of the daily reconciliation sweep (read by the Functions host as %PHIGUARD_RECONCILE_SCHEDULE%).",
    ),
    ("ARM_MAX_RETRIES", "4", "Retries of one ARM call on 429/5xx/connection errors."),
    (
        "ARM_RETRY_BUDGET_SECONDS",
        "30",
        "Longest total wait on retries for one ARM call; past it the event is redelivered by Event Grid.",
    ),
    ("ARM_TIMEOUT_SECONDS", "20", "Read timeout of one ARM call."),
    (
        "REMEDIATION_MODE",
        "(per remediation)",
        "off / dry-run / enforce: overrides every remediation's mode.",
    ),
    (
        "REMEDIATION_MODES",
        "(none)",
        "Per-remediation modes, `id=mode,id=mode` (off / dry-run / enforce); REMEDIATION_MODE "
        "overrides them, they override each remediation's default mode.",
    ),
    (
        "REMEDIATION_ALLOW",
        "(none)",
        "Comma-separated remediation ids allowed to write in enforce mode; empty means none "
        "(every other enforce-mode fix is only planned and recorded).",
    ),
    (
        "REMEDIATION_NSG_STRATEGY",
        "deny",
        "How NSG rules open to the Internet are closed: `deny` (the rule's access becomes Deny) "
        "or `restrict` (its Internet source becomes REMEDIATION_ADMIN_CIDRS).",
    ),
    (
        "REMEDIATION_ADMIN_CIDRS",
        "(none)",
        "Comma-separated CIDRs administrators connect from; required by the restrict strategy.",
    ),
    (
        "REMEDIATION_WORKSPACE_ID",
        "(none)",
        "Resource id of the Log Analytics workspace phiguard's diagnostic setting sends audit "
        "logs to.",
    ),
    (
        "REMEDIATION_ARCHIVE_STORAGE_ID",
        "(none)",
        "Resource id of the immutable archive storage account phiguard's diagnostic setting "
        "sends audit logs to.",
    ),
    (
        "REMEDIATION_HOURLY_CAP",
        "20",
        "Most remediations applied per subscription in any 60 minutes; beyond it fixes are only "
        "planned and escalated.",
    ),
    (
        "REMEDIATION_FLAP_LIMIT",
        "3",
        "A resource fixed this many times by one remediation within REMEDIATION_FLAP_WINDOW_SECONDS "
        "is no longer fixed but escalated (something keeps undoing the fix).",
    ),
    (
        "REMEDIATION_FLAP_WINDOW_SECONDS",
        "3600",
        "The window of REMEDIATION_FLAP_LIMIT.",
    ),
    (
        "IDENTITY_APP_ID",
        "(MANAGED_IDENTITY_CLIENT_ID)",
        "Application (client) id of phiguard's own identity: events it caused are evaluated but "
        "never remediated again. Set it for a system-assigned identity.",
    ),
    (
        "EXEMPTION_MAX_DAYS",
        "365",
        "Longest exemption honoured, in days from now: a `phiguard-exempt` tag or table entry "
        "whose `until` is further away is not honoured (the remediation record says why).",
    ),
    (
        "EXEMPTION_APPROVERS",
        "(any named approver)",
        "Comma-separated approvers (UPNs / emails, case-insensitive) whose `phiguard-exempt` "
        "tag exemptions count; a tag naming anyone else is not honoured. Empty: any approver "
        "named in the tag counts (whoever can write the tag can also change the resource).",
    ),
    (
        "GRAPH_URL",
        "https://graph.microsoft.com",
        "Microsoft Graph endpoint the access review reads users, groups and service principals "
        "from (application permissions User.Read.All, GroupMember.Read.All, "
        "Application.Read.All, AuditLog.Read.All; what a missing one hides is reported).",
    ),
    (
        "ACCESS_REVIEW_SCHEDULE",
        "0 0 6 * * 1",
        "NCRONTAB of the weekly access review (Monday 06:00 UTC; read by the Functions host as "
        "%PHIGUARD_ACCESS_REVIEW_SCHEDULE%).",
    ),
    (
        "ACCESS_REVIEW_INACTIVE_DAYS",
        "90",
        "An account with access to PHI and no sign-in for this many days is flagged by the "
        "access review.",
    ),
    (
        "EVIDENCE_CONTAINER",
        "evidence",
        "Blob container (same storage account) the daily evidence export writes to: the "
        "history and remediation log of each day, with a manifest. The deployment makes it "
        "write-once for six years.",
    ),
    (
        "EVIDENCE_SCHEDULE",
        "0 0 1 * * *",
        "NCRONTAB of the daily evidence export (01:00 UTC: the day before, and any day of the "
        "last week not exported yet).",
    ),
    (
        "CHECKS",
        "(every check)",
        "Comma-separated check ids and services (`storage`, `network`, ...) the sweep and the "
        "event path run; only their related documents are read. Rows of other checks are "
        "left as they are. `phiguard scan --checks/--services/...` overrides it.",
    ),
    (
        "EXCLUDED_CHECKS",
        "(none)",
        "Comma-separated check ids and services never run (applied after CHECKS).",
    ),
    (
        "MUTE_MAX_DAYS",
        "180",
        "Longest mute rule (`phiguard mute add`) in days; a rule lasting longer is refused "
        "when added and not honoured if found in the table.",
    ),
)


NOTIFY_SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    (
        "TEAMS_WEBHOOK_URL",
        "(none)",
        "Teams Workflows / incoming webhook URL (a secret). Empty: no Teams cards.",
    ),
    (
        "EMAIL_SENDER",
        "(none)",
        "From address of notification email (an ACS verified sender, or the SMTP account's).",
    ),
    (
        "ACS_ENDPOINT",
        "(none)",
        "Azure Communication Services endpoint, used with the managed identity.",
    ),
    (
        "ACS_CONNECTION_STRING",
        "(none)",
        "ACS connection string (holds an access key: a secret). Either this or ACS_ENDPOINT.",
    ),
    ("SMTP_HOST", "(none)", "SMTP relay host, when email goes by SMTP instead of ACS."),
    ("SMTP_PORT", "587", "SMTP relay port."),
    ("SMTP_USERNAME", "(none)", "SMTP login; none: no AUTH."),
    ("SMTP_PASSWORD", "(none)", "SMTP password (a secret)."),
    (
        "SMTP_STARTTLS",
        "auto",
        "auto (STARTTLS when offered; credentials only over it), required (refuse a relay "
        "without it) or off (credentials allowed in clear: a local relay only).",
    ),
    ("NOTIFY_EMAIL_TO", "(none)", "Recipients of every notice and the digest, comma-separated."),
    (
        "NOTIFY_ROUTES",
        "(none)",
        "More recipients by scope: `severity:CRITICAL=a@x;subscription:ID=b@x;resource_group:[SUB/]NAME=c@x`.",
    ),
    ("NOTIFY_OWNER_TAG", "owner", "Tag naming a resource's owner (an email address)."),
    (
        "NOTIFY_OWNER_DOMAINS",
        "(none)",
        "Domains an owner address may be in; none: owner routing off.",
    ),
    (
        "OUTBOX_MAX_ATTEMPTS",
        "8",
        "Attempts before an outbox item is dead-lettered.",
    ),
    ("OUTBOX_BASE_DELAY_SECONDS", "30", "First retry delay; doubled per attempt."),
    (
        "OUTBOX_MAX_DELAY_SECONDS",
        "3600",
        "Longest retry delay (a longer Retry-After is still honoured).",
    ),
    ("OUTBOX_RETENTION_DAYS", "30", "Sent outbox items are purged after this many days."),
    (
        "OUTBOX_SCHEDULE",
        "0 */1 * * * *",
        "NCRONTAB of the outbox dispatcher (issues, cards, email): sends what is due, retries with backoff.",
    ),
    (
        "DIGEST_SCHEDULE",
        "0 0 7 * * *",
        "NCRONTAB of the digest (open failures by severity, what is new, what was fixed); quiet "
        "when nothing changed in the period.",
    ),
    ("DIGEST_HOURS", "24", "The period a digest covers, ending at the hour it runs."),
    (
        "NOTIFY_IMMEDIATE_PER_HOUR",
        "20",
        "Most new-failure notices sent at once per channel in any hour; past it (a first "
        "sweep, a bad template deployed everywhere) new failures wait for the digest.",
    ),
)

ISSUE_SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    (
        "ISSUES_ROUTES",
        "(none)",
        "Where failures' issues go: `<scope>=github:OWNER/REPO` or `<scope>=azure-devops:ORG/PROJECT`, "
        "comma-separated; scope `*`, a subscription id or a subscription / resource group id "
        "(the most specific wins). Empty: no issues.",
    ),
    (
        "GITHUB_TOKEN",
        "(none)",
        "GitHub token with Issues: read and write on the routed repositories (a secret).",
    ),
    (
        "GITHUB_API_URL",
        "https://api.github.com",
        "GitHub REST endpoint (GitHub Enterprise Server: `https://HOST/api/v3`).",
    ),
    (
        "ADO_PAT",
        "(none)",
        "Azure DevOps personal access token, scope Work Items: read and write (a secret). "
        "Empty: the app's managed identity, added to the organization with access to the "
        "project's work items.",
    ),
    (
        "ADO_URL",
        "https://dev.azure.com",
        "Azure DevOps Services endpoint (organizations live under it).",
    ),
    (
        "ADO_WORK_ITEM_TYPE",
        "Issue",
        "Work item type created (the Agile process, Azure DevOps' default: Issue or Bug).",
    ),
    (
        "ADO_CLOSED_STATE",
        "Closed",
        "State a work item is moved to when its finding passes (Basic process: Done). A state "
        "the work item's type does not have falls back to the type's own state of the "
        "`Completed` category.",
    ),
    (
        "ADO_REOPENED_STATE",
        "Active",
        "State a closed work item returns to when its finding recurs (Basic process: To Do). "
        "A state the type does not have falls back to its `InProgress`, then `Proposed` state.",
    ),
    (
        "PUBLIC_URL",
        "(none)",
        "The app's base URL (`https://APP.azurewebsites.net`): issues link to the finding "
        "(`/api/findings?resource=…`, behind the API's authentication). Empty: no link.",
    ),
    (
        "OWNER_TAG",
        "owner",
        "Tag naming a resource's owner: its value (a GitHub login or an ADO identity) is the issue's assignee.",
    ),
)

SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    CORE_SETTINGS_DOC + NOTIFY_SETTINGS_DOC + ISSUE_SETTINGS_DOC
)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _names(value: str, name: str) -> tuple[str, ...]:
    """A comma-separated list of plain names (subscription ids, approvers): one that holds a
    control character or would change a URL or an id (``/ ? # % \\``) is a setting error, not
    a value to match against."""
    names = _split(value)
    for item in names:
        bad = [c for c in item if c in "/?#%\\" or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
        if bad:
            raise SettingsError(f"{PREFIX}{name}: {item!r} holds {bad[0]!r}")
    return names


def parse_tag_rules(
    text: str, name: str = PREFIX + "PHI_TAGS"
) -> tuple[tuple[str, frozenset[str]], ...]:
    rules: list[tuple[str, frozenset[str]]] = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        tag, sep, values = part.partition("=")
        if not sep or not tag.strip() or not values.strip():
            raise SettingsError(f"{name}: {part!r} is not `tag=value1|value2`")
        rules.append((tag.strip().lower(), frozenset(v.strip().lower() for v in values.split("|"))))
    if not rules:
        raise SettingsError(f"{name}: no tag rule given")
    return tuple(rules)


MODES = ("off", "dry-run", "enforce")


def parse_remediation_modes(text: str) -> tuple[tuple[str, str], ...]:
    """``id=mode,id=mode`` → ((id, mode), ...); ids are checked against the registry later."""
    name = PREFIX + "REMEDIATION_MODES"
    out: list[tuple[str, str]] = []
    for part in _split(text):
        rid, sep, mode = part.partition("=")
        rid, mode = rid.strip(), mode.strip().lower()
        if not sep or not rid:
            raise SettingsError(f"{name}: {part!r} is not `remediation_id=mode`")
        if mode not in MODES:
            raise SettingsError(f"{name}: {part!r}: {mode!r} is not off, dry-run or enforce")
        out.append((rid, mode))
    return tuple(out)


def parse_admin_cidrs(text: str) -> tuple[str, ...]:
    """Admin CIDRs, validated; an Internet-wide range would make the NSG fix no fix at all."""
    name = PREFIX + "REMEDIATION_ADMIN_CIDRS"
    out: list[str] = []
    for part in _split(text):
        try:
            network = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not an IP address or CIDR") from None
        if network.prefixlen == 0:
            raise SettingsError(f"{name}: {part!r} is the whole Internet")
        out.append(str(network))
    return tuple(out)


def _container(name: str) -> str:
    """A Blob container name: 3-63 lowercase letters, digits and single hyphens."""
    import re

    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", name):
        raise SettingsError(
            f"{PREFIX}EVIDENCE_CONTAINER: {name[:70]!r} is not a container name (3-63 lowercase "
            "letters, digits and single hyphens)"
        )
    return name


def _resource_id_setting(value: str | None, name: str, rtype: str) -> str | None:
    if value is None:
        return None
    from shared.kernel.resource_id import ResourceIdError, parse

    try:
        found = parse(value).type
    except ResourceIdError as exc:
        raise SettingsError(f"{PREFIX}{name}: {exc}") from None
    if found != rtype:
        raise SettingsError(f"{PREFIX}{name}: {value!r} is a {found}, expected a {rtype}")
    return value


def _https_url(name: str, value: str) -> str:
    """An endpoint setting: an https:// URL with a host (bearer tokens go to it), no trailing
    slash."""
    url = value.rstrip("/")
    try:
        host = urlsplit(url).hostname if url.startswith("https://") else None
    except ValueError:  # "https://[::1": an IPv6 literal left open
        host = None
    if not host:
        raise SettingsError(
            f"{PREFIX}{name}: {url[:200]!r} must be an https:// URL with a host "
            "(bearer tokens are never sent over plain http)"
        )
    return url


def _validate_selection(checks: tuple[str, ...], excluded: tuple[str, ...]) -> None:
    from checks import CATALOG
    from shared.selection import SelectionError, from_setting

    selection = from_setting(checks, excluded, CATALOG)
    try:
        if not selection.apply(CATALOG):
            raise SelectionError(f"{PREFIX}CHECKS: the selection matches no check")
    except SelectionError as exc:
        raise SettingsError(str(exc)) from None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}: {raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name}: {value} is outside {low}..{high}")
    return value


@dataclass(frozen=True)
class Settings:
    storage_connection_string: str | None = field(default=None, repr=False)  # holds a key
    storage_account_url: str | None = None
    table_prefix: str = "phiguard"
    arm_url: str = "https://management.azure.com"
    ca_cert: str | None = None
    subscriptions: tuple[str, ...] = ()
    phi_subscriptions: tuple[str, ...] = ()
    phi_resource_groups: tuple[str, ...] = ()
    phi_tags: tuple[tuple[str, frozenset[str]], ...] = DEFAULT_TAG_RULES
    managed_identity_client_id: str | None = None
    arm_max_retries: int = 4
    arm_retry_budget_seconds: int = 30
    arm_timeout_seconds: int = 20
    remediation_mode: str | None = None
    remediation_modes: tuple[tuple[str, str], ...] = ()
    remediation_allow: tuple[str, ...] = ()
    remediation_nsg_strategy: Literal["deny", "restrict"] = "deny"
    remediation_admin_cidrs: tuple[str, ...] = ()
    remediation_workspace_id: str | None = None
    remediation_archive_storage_id: str | None = None
    remediation_hourly_cap: int = 20
    remediation_flap_limit: int = 3
    remediation_flap_window_seconds: int = 3600
    identity_app_id: str | None = None
    exemption_max_days: int = 365
    exemption_approvers: tuple[str, ...] = ()
    graph_url: str = "https://graph.microsoft.com"
    access_review_inactive_days: int = 90
    evidence_container: str = "evidence"
    checks: tuple[str, ...] = ()
    excluded_checks: tuple[str, ...] = ()
    mute_max_days: int = 180

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            return value or None

        arm_url = _https_url("ARM_URL", text("ARM_URL") or "https://management.azure.com")
        ca_cert = text("CA_CERT")
        if ca_cert is not None and not os.path.isfile(ca_cert):  # noqa: PTH113
            raise SettingsError(f"{PREFIX}CA_CERT: no such file {ca_cert!r}")
        mode = text("REMEDIATION_MODE")
        if mode is not None and mode not in ("off", "dry-run", "enforce"):
            raise SettingsError(
                f"{PREFIX}REMEDIATION_MODE: {mode!r} is not off, dry-run or enforce"
            )
        tags = text("PHI_TAGS")
        strategy = (text("REMEDIATION_NSG_STRATEGY") or "deny").lower()
        if strategy not in ("deny", "restrict"):
            raise SettingsError(
                f"{PREFIX}REMEDIATION_NSG_STRATEGY: {strategy!r} is not deny or restrict"
            )
        cidrs = parse_admin_cidrs(text("REMEDIATION_ADMIN_CIDRS") or "")
        if strategy == "restrict" and not cidrs:
            raise SettingsError(
                f"{PREFIX}REMEDIATION_ADMIN_CIDRS: the restrict NSG strategy needs admin CIDRs"
            )
        managed_identity = text("MANAGED_IDENTITY_CLIENT_ID")
        graph_url = _https_url("GRAPH_URL", text("GRAPH_URL") or "https://graph.microsoft.com")
        checks = _split(text("CHECKS") or "")
        excluded = _split(text("EXCLUDED_CHECKS") or "")
        if checks or excluded:
            _validate_selection(checks, excluded)
        return cls(
            storage_connection_string=text("STORAGE_CONNECTION_STRING"),
            storage_account_url=text("STORAGE_ACCOUNT_URL"),
            table_prefix=text("TABLE_PREFIX") or "phiguard",
            arm_url=arm_url,
            ca_cert=ca_cert,
            subscriptions=_names(text("SUBSCRIPTIONS") or "", "SUBSCRIPTIONS"),
            phi_subscriptions=_names(text("PHI_SUBSCRIPTIONS") or "", "PHI_SUBSCRIPTIONS"),
            phi_resource_groups=_split(text("PHI_RESOURCE_GROUPS") or ""),
            phi_tags=parse_tag_rules(tags) if tags else DEFAULT_TAG_RULES,
            managed_identity_client_id=managed_identity,
            arm_max_retries=_int(env, "ARM_MAX_RETRIES", 4, 0, 20),
            arm_retry_budget_seconds=_int(env, "ARM_RETRY_BUDGET_SECONDS", 30, 1, 600),
            arm_timeout_seconds=_int(env, "ARM_TIMEOUT_SECONDS", 20, 1, 300),
            remediation_mode=mode,
            remediation_modes=parse_remediation_modes(text("REMEDIATION_MODES") or ""),
            remediation_allow=_split(text("REMEDIATION_ALLOW") or ""),
            remediation_nsg_strategy="restrict" if strategy == "restrict" else "deny",
            remediation_admin_cidrs=cidrs,
            remediation_workspace_id=_resource_id_setting(
                text("REMEDIATION_WORKSPACE_ID"),
                "REMEDIATION_WORKSPACE_ID",
                "microsoft.operationalinsights/workspaces",
            ),
            remediation_archive_storage_id=_resource_id_setting(
                text("REMEDIATION_ARCHIVE_STORAGE_ID"),
                "REMEDIATION_ARCHIVE_STORAGE_ID",
                "microsoft.storage/storageaccounts",
            ),
            remediation_hourly_cap=_int(env, "REMEDIATION_HOURLY_CAP", 20, 0, 100_000),
            remediation_flap_limit=_int(env, "REMEDIATION_FLAP_LIMIT", 3, 1, 1000),
            remediation_flap_window_seconds=_int(
                env, "REMEDIATION_FLAP_WINDOW_SECONDS", 3600, 60, 30 * 86400
            ),
            identity_app_id=text("IDENTITY_APP_ID") or managed_identity,
            exemption_max_days=_int(env, "EXEMPTION_MAX_DAYS", 365, 1, 3650),
            exemption_approvers=tuple(
                a.lower() for a in _names(text("EXEMPTION_APPROVERS") or "", "EXEMPTION_APPROVERS")
            ),
            graph_url=graph_url,
            access_review_inactive_days=_int(env, "ACCESS_REVIEW_INACTIVE_DAYS", 90, 1, 3650),
            evidence_container=_container(text("EVIDENCE_CONTAINER") or "evidence"),
            checks=checks,
            excluded_checks=excluded,
            mute_max_days=_int(env, "MUTE_MAX_DAYS", 180, 1, 3650),
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """Settings with CLI flags applied (``None`` means "flag not given")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def selection(self) -> Selection:
        """The checks the sweep and the event path run (CHECKS, EXCLUDED_CHECKS)."""
        from checks import CATALOG
        from shared.selection import from_setting

        return from_setting(self.checks, self.excluded_checks, CATALOG)

    def phi_scope(self) -> PhiScope:
        return PhiScope(
            tag_rules=self.phi_tags,
            subscriptions=frozenset(s.lower() for s in self.phi_subscriptions),
            resource_groups=frozenset(
                "/" + g.strip().strip("/").lower() for g in self.phi_resource_groups
            ),
        )

    @property
    def has_storage(self) -> bool:
        """A state store is configured (a connection string or an account URL)."""
        return bool(self.storage_connection_string or self.storage_account_url)

    def require_storage(self) -> None:
        if not self.has_storage:
            raise SettingsError(
                f"set {PREFIX}STORAGE_CONNECTION_STRING or {PREFIX}STORAGE_ACCOUNT_URL"
            )


def settings_markdown() -> str:
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    rows += [f"| `{PREFIX}{n}` | `{d}` | {m} |" for n, d, m in SETTINGS_DOC]
    return "\n".join(rows) + "\n"
