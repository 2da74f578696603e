"""Credentials for ARM: the managed identity in Azure, a dev token only on loopback."""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from shared.config import Settings


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Scopes that name a service's audience, never the endpoint the token goes to: an SDK asks for
# them whatever endpoint its client was built with. ACS Email's EmailClient always asks for
# "https://communication.azure.com//.default" (azure-communication-email, auth_policy_utils), so
# a client built on the sim's loopback ACS endpoint still asks for it.
SERVICE_AUDIENCE_SCOPES = frozenset(
    {
        "https://communication.azure.com//.default",
        "https://communication.azure.com/.default",
    }
)


class LoopbackDevCredential:
    """A fixed bearer token for the simulated tenant. Refused for any non-loopback scope, so it
    can never send a fake token to, or accept one from, real Azure: the scope of ARM, Graph and
    Azure DevOps on loopback is the loopback URL itself. The one exception is a fixed service
    audience (:data:`SERVICE_AUDIENCE_SCOPES`), which names no endpoint; phiguard hands this
    credential only to a client whose endpoint is loopback (``shared.context``), and the token is
    a fixed, non-secret string."""

    def __init__(self, token: str = "phiguard-local-dev-token") -> None:  # noqa: S107 - not a secret
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        for scope in scopes:
            if scope not in SERVICE_AUDIENCE_SCOPES and not is_loopback_url(scope):
                raise ValueError(f"dev credential refused for non-loopback scope {scope!r}")
        return AccessToken(self._token, int(time.time()) + 3600)


def arm_credential(settings: Settings) -> TokenCredential:
    if is_loopback_url(settings.arm_url):
        return LoopbackDevCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)


def graph_credential(settings: Settings) -> TokenCredential:
    """Microsoft Graph (the access review): the managed identity, a dev token on loopback."""
    if is_loopback_url(settings.graph_url):
        return LoopbackDevCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)


def storage_credential(settings: Settings) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)
