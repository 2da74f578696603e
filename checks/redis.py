"""Azure Cache for Redis (Microsoft.Cache/redis) holding PHI: Redis_Get 2024-11-01."""

from __future__ import annotations

from checks.common import Evidence, local_auth_result, public_network_result
from checks.registry import check, register_policy_definitions
from shared.kernel.findings import Result, Severity
from shared.kernel.snapshot import Snapshot

# Issue 14: ids and display names cross-checked against Azure's built-in policy
# reference tables and public policy sets that cite them (not read from
# Azure/azure-policy itself).
register_policy_definitions(
    {
        "22bee202-a82f-4305-9a2a-6d7f44d4dedb": (
            "Only secure connections to your Azure Cache for Redis should be enabled"
        ),
        "470baccb-7e51-4549-8b1a-3e5be069f663": (
            "Azure Cache for Redis should disable public network access"
        ),
    }
)

CACHES = ("microsoft.cache/redis",)


@check(
    id="redis_cache_non_ssl_port_disabled",
    title="Azure Cache for Redis accepts only TLS connections (non-TLS port 6379 closed)",
    severity=Severity.HIGH,
    resource_types=CACHES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    azure_policy=("22bee202-a82f-4305-9a2a-6d7f44d4dedb",),
    guidance="Set enableNonSslPort to false (Advanced settings > Non-TLS port).",
)
def redis_cache_non_ssl_port_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.enableNonSslPort`` is false or absent; FAIL when true, because the
    cache then serves PHI and its access key in clear text on port 6379. Absent means false:
    the non-TLS port is closed by default."""
    ev = Evidence(snapshot)
    if ev.flag("properties.enableNonSslPort", False):
        return ev.failed("The non-TLS port 6379 is open: data and keys can cross in clear text.")
    return ev.passed("Only TLS connections (port 6380) are accepted.")


@check(
    id="redis_cache_min_tls_1_2",
    title="Azure Cache for Redis requires TLS 1.2 or newer",
    severity=Severity.HIGH,
    resource_types=CACHES,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    guidance="Set minimumTlsVersion to 1.2 (Advanced settings > Minimum TLS version).",
    limitations="No built-in policy audits minimumTlsVersion, so none is cited.",
)
def redis_cache_min_tls_1_2(snapshot: Snapshot) -> Result:
    """PASS when ``properties.minimumTlsVersion`` is 1.2 or newer; FAIL when 1.0 or 1.1.
    Absent is read as 1.0 for caches that never set it (Azure's retirement of TLS 1.0/1.1 for
    Redis lifts new caches to 1.2, but only a body that says so is trusted)."""
    ev = Evidence(snapshot)
    value = ev.text("properties.minimumTlsVersion", "1.0", empty_is_default=True)
    if value in ("1.2", "1.3"):
        return ev.passed(f"The cache requires TLS {value} or newer.")
    return ev.failed(f"The cache accepts TLS {value}, below TLS 1.2.")


@check(
    id="redis_cache_public_network_access_disabled",
    title="PHI Azure Cache for Redis has public network access disabled",
    severity=Severity.HIGH,
    resource_types=CACHES,
    hipaa=("164.312(a)(1)", "164.312(e)(1)"),
    azure_policy=("470baccb-7e51-4549-8b1a-3e5be069f663",),
    phi_only=True,
    guidance="Add a private endpoint, then set publicNetworkAccess to Disabled.",
    limitations="VNet-injected Premium caches (subnetId set) are reached only from their VNet "
    "but still report publicNetworkAccess; they FAIL unless it is Disabled.",
)
def redis_cache_public_network_access_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.publicNetworkAccess`` is Disabled; FAIL when Enabled or absent,
    because the cache's endpoint then answers from the Internet with only an access key in the
    way. Absent means Enabled, the API default."""
    return public_network_result(snapshot, "properties.publicNetworkAccess", "cache")


@check(
    id="redis_cache_access_keys_disabled",
    title="PHI Azure Cache for Redis accepts only Microsoft Entra authentication",
    severity=Severity.MEDIUM,
    resource_types=CACHES,
    hipaa=("164.312(a)(2)(i)", "164.312(d)"),
    phi_only=True,
    guidance="Enable Microsoft Entra authentication for the cache, move clients to it, then set "
    "disableAccessKeyAuthentication to true.",
)
def redis_cache_access_keys_disabled(snapshot: Snapshot) -> Result:
    """PASS when ``properties.disableAccessKeyAuthentication`` is true; FAIL when false or
    absent, because the shared access keys then open every cached PHI record to whoever holds
    them, with no user behind the access. Absent means false."""
    return local_auth_result(
        snapshot, "properties.disableAccessKeyAuthentication", "cache", "its shared access keys"
    )
