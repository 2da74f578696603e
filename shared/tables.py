"""Where phiguard's tables live: the one place that chooses how to reach Table Storage.

``PHIGUARD_STORAGE_CONNECTION_STRING`` (Azurite, an account key or SAS) when set, else
``PHIGUARD_STORAGE_ACCOUNT_URL`` with the managed identity (production). The state store, the
remediation log and the CLI's preflight probe all get their service client here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.pipeline.transport import RequestsTransport
    from azure.data.tables import TableServiceClient

    from shared.config import Settings


def table_service(
    settings: Settings, *, transport: RequestsTransport | None = None, **options: Any
) -> TableServiceClient:
    """A Tables service client for the configured storage (see the module's doc), on
    ``transport`` (default: :func:`shared.http.tables_transport`); ``options`` go to the client
    (``retry_total``, ...). Raises ``SettingsError`` when neither setting is set, and what the
    SDK raises (``ValueError``, ``TypeError``) for a malformed value."""
    from azure.data.tables import TableServiceClient

    from shared.http import tables_transport

    settings.require_storage()
    http = transport if transport is not None else tables_transport()
    if settings.storage_connection_string:
        return TableServiceClient.from_connection_string(
            settings.storage_connection_string, transport=http, **options
        )
    from shared.credentials import storage_credential

    return TableServiceClient(
        endpoint=str(settings.storage_account_url),
        credential=storage_credential(settings),
        transport=http,
        **options,
    )
