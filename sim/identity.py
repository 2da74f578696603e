"""The managed-identity token endpoints, as stand-ins: an App Service / Functions host's, and
the Azure Instance Metadata Service's (a VM's).

Protocol ``2019-08-01`` (what azure-identity's ``ManagedIdentityCredential`` uses when the host
sets ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``): ``GET {endpoint}?resource=...&api-version=
2019-08-01[&client_id=...]`` with the header ``X-IDENTITY-HEADER``; the answer is
``{"access_token", "expires_on", "not_before", "resource", "token_type", "client_id"}``, the
times as strings of epoch seconds (the property table of
https://learn.microsoft.com/azure/app-service/overview-managed-identity); at most one of
``client_id``, ``principal_id`` (alias ``object_id``) and ``mi_res_id`` picks a user-assigned
identity, more than one is refused (400), as the platform documents. The token is the
sim's dev token (ARM accepts any bearer); a request without the header is refused (400), as the
host does, so a client that forgets it is caught.

IMDS (``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`` with the
header ``Metadata: true``; what ``ManagedIdentityCredential`` uses on a VM, and reaches here when
``AZURE_POD_IDENTITY_AUTHORITY_HOST`` points at the sim): the answer has ``access_token``,
``client_id``, ``expires_in``, ``expires_on``, ``ext_expires_in``, ``not_before``, ``resource``
and ``token_type``, numbers as strings, as IMDS sends them. Without the header: 400
``invalid_request`` "Required metadata header not specified", as IMDS answers.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

PATH = "/msi/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
IDENTITY_HEADER = "phiguard-sim-identity-header"  # not a secret: the sim's fixed value
CLIENT_ID = "4c6e2d3a-0000-4000-8000-00000000beef"
TOKEN = "phiguard-local-dev-token"  # noqa: S105 - the sim's dev token, accepted by its ARM

Reply = tuple[int, list[tuple[str, str]], bytes, bool]

# The identity selectors of the 2019-08-01 protocol; at most one per request ("Can't be used on
# a request that includes ..."; https://learn.microsoft.com/azure/app-service/
# overview-managed-identity#rest-endpoint-reference). None: the system-assigned identity.
APP_SERVICE_ID_PARAMS = ("client_id", "principal_id", "object_id", "mi_res_id")


def _reply(status: int, body: dict[str, object]) -> Reply:
    return (
        status,
        [("Content-Type", "application/json; charset=utf-8")],
        json.dumps(body).encode(),
        False,
    )


def handle(method: str, query: str, headers: dict[str, str]) -> Reply:
    if method != "GET":
        return _reply(405, {"error": "invalid_request", "error_description": "GET only"})
    if headers.get("x-identity-header") != IDENTITY_HEADER:
        return _reply(400, {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER"})
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if params.get("api-version") != "2019-08-01":
        return _reply(400, {"error": "invalid_request", "error_description": "api-version"})
    resource = params.get("resource", "")
    if not resource:
        return _reply(400, {"error": "invalid_request", "error_description": "resource"})
    chosen = [name for name in APP_SERVICE_ID_PARAMS if params.get(name)]
    if len(chosen) > 1:
        return _reply(
            400,
            {
                "error": "invalid_request",
                "error_description": "Only one of client_id, principal_id, object_id and "
                f"mi_res_id may be given; the request has {', '.join(chosen)}.",
            },
        )
    now = int(time.time())
    return _reply(
        200,
        {
            "access_token": TOKEN,
            "expires_on": str(now + 3600),
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": params.get("client_id", CLIENT_ID),
        },
    )


def handle_imds(method: str, query: str, headers: dict[str, str]) -> Reply:
    if method != "GET":
        return _reply(405, {"error": "invalid_request", "error_description": "GET only"})
    if headers.get("metadata", "").lower() != "true":
        return _reply(
            400,
            {
                "error": "invalid_request",
                "error_description": "Required metadata header not specified",
            },
        )
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if not params.get("api-version"):
        return _reply(
            400, {"error": "invalid_request", "error_description": "api-version is required"}
        )
    resource = params.get("resource", "")
    if not resource:
        return _reply(
            400,
            {"error": "invalid_request", "error_description": "resource is required"},
        )
    now = int(time.time())
    return _reply(
        200,
        {
            "access_token": TOKEN,
            "client_id": params.get("client_id", CLIENT_ID),
            "expires_in": "3600",
            "expires_on": str(now + 3600),
            "ext_expires_in": "3600",
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
        },
    )
