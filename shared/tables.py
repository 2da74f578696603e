"""Where phiguard's tables live: the one place that chooses how to reach Table Storage.

``PHIGUARD_STORAGE_CONNECTION_STRING`` (Azurite, an account key or SAS) when set, else
``PHIGUARD_STORAGE_ACCOUNT_URL`` with the managed identity (production). The state store, the
remediation log and the CLI's preflight probe all get their service client here, and the
store and the log their ``from_connection_string`` / ``from_account_url`` (:class:`TablesBacked`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport
    from azure.data.tables import TableServiceClient

    from shared.config import Settings


def service_from_connection_string(
    connection_string: str, *, transport: HttpTransport[Any, Any] | None = None, **options: Any
) -> TableServiceClient:
    """A Tables service client for a connection string (Azurite, an account key or SAS), on
    ``transport`` (default: :func:`shared.http.tables_transport`)."""
    from azure.data.tables import TableServiceClient

    from shared.http import tables_transport

    http = transport if transport is not None else tables_transport()
    return TableServiceClient.from_connection_string(connection_string, transport=http, **options)


def service_from_account_url(
    account_url: str,
    credential: TokenCredential,
    *,
    transport: HttpTransport[Any, Any] | None = None,
    **options: Any,
) -> TableServiceClient:
    """A Tables service client for ``https://<account>.table.core.windows.net`` with a token
    credential, on ``transport`` (default: :func:`shared.http.tables_transport`)."""
    from azure.data.tables import TableServiceClient

    from shared.http import tables_transport

    http = transport if transport is not None else tables_transport()
    return TableServiceClient(
        endpoint=account_url, credential=credential, transport=http, **options
    )


def table_service(
    settings: Settings, *, transport: HttpTransport[Any, Any] | None = None, **options: Any
) -> TableServiceClient:
    """A Tables service client for the configured storage (see the module's doc), on
    ``transport`` (default: :func:`shared.http.tables_transport`); ``options`` go to the client
    (``retry_total``, ...). Raises ``SettingsError`` when neither setting is set, and what the
    SDK raises (``ValueError``, ``TypeError``) for a malformed value."""
    settings.require_storage()
    if settings.storage_connection_string:
        return service_from_connection_string(
            settings.storage_connection_string, transport=transport, **options
        )
    from shared.credentials import storage_credential

    return service_from_account_url(
        str(settings.storage_account_url),
        storage_credential(settings),
        transport=transport,
        **options,
    )


def blob_service(settings: Settings) -> Any:
    """A Blob service client for the same storage account (the access reviews, the evidence
    export): from the connection string, else the blob endpoint of the table endpoint with the
    managed identity."""
    from azure.storage.blob import BlobServiceClient

    from shared.config import SettingsError
    from shared.http import transport

    http = transport(timeout_seconds=60, pool_size=4)
    settings.require_storage()
    if settings.storage_connection_string:
        return BlobServiceClient.from_connection_string(
            settings.storage_connection_string, transport=http
        )
    from shared.credentials import storage_credential

    url = str(settings.storage_account_url or "")
    if ".table." not in url:
        raise SettingsError(
            "PHIGUARD_STORAGE_ACCOUNT_URL: the blob endpoint is derived from the table endpoint "
            f"(https://<account>.table.core.windows.net), got {url!r}"
        )
    return BlobServiceClient(
        url.replace(".table.", ".blob."), credential=storage_credential(settings), transport=http
    )


class TablesBacked:
    """The two ways to reach the tables, for a class built on a service client and a table-name
    prefix (the state store, the remediation log)."""

    if TYPE_CHECKING:

        def __init__(self, service: TableServiceClient, prefix: str = ...) -> None: ...

    @classmethod
    def from_connection_string(cls, connection_string: str, prefix: str = "phiguard") -> Self:
        return cls(service_from_connection_string(connection_string), prefix)

    @classmethod
    def from_account_url(
        cls, account_url: str, credential: TokenCredential, prefix: str = "phiguard"
    ) -> Self:
        """For a managed identity: ``https://<account>.table.core.windows.net``; the identity needs
        the *Storage Table Data Contributor* role."""
        return cls(service_from_account_url(account_url, credential), prefix)
