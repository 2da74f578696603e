"""Health data: Azure API for FHIR and Azure Health Data Services workspaces and FHIR services
(Microsoft.HealthcareApis: quoted etags, ``kind`` after ``type``)."""

from __future__ import annotations

from sim.estate.common import ARM, Doc, guid, header, resource_id, system_identity

_KINDED = ("id", "name", "type", "kind", "location", "tags", "etag")


def health_etag(rid: str) -> str:
    return f'"{guid(rid, "etag")[:8]}-0000-0100-0000-000000000000"'


def fhir_api(sub: str, rg: str, name: str, location: str, tags: dict[str, str], tenant: str) -> Doc:
    """Services_Get for Azure API for FHIR (Microsoft.HealthcareApis/services, kind fhir-R4)."""
    rtype = "Microsoft.HealthcareApis/services"
    rid = resource_id(sub, rg, rtype, name)
    return {
        **header(
            rid,
            name,
            rtype,
            location,
            tags,
            etag=health_etag(rid),
            kind="fhir-R4",
            order=_KINDED,
        ),
        "identity": system_identity(rid, tenant),
        "properties": {
            "provisioningState": "Succeeded",
            "accessPolicies": [],
            "cosmosDbConfiguration": {"offerThroughput": 1000, "keyVaultKeyUri": None},
            "authenticationConfiguration": {
                "authority": f"https://login.microsoftonline.com/{tenant}",
                "audience": f"https://{name}.azurehealthcareapis.com",
                "smartProxyEnabled": False,
            },
            "corsConfiguration": {
                "origins": [],
                "headers": [],
                "methods": [],
                "allowCredentials": False,
            },
            "exportConfiguration": {"storageAccountName": None},
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
        },
    }


def health_workspace(sub: str, rg: str, name: str, location: str, tags: dict[str, str]) -> Doc:
    """Workspaces_Get for Azure Health Data Services (Microsoft.HealthcareApis/workspaces)."""
    rtype = "Microsoft.HealthcareApis/workspaces"
    rid = resource_id(sub, rg, rtype, name)
    return {
        **header(
            rid,
            name,
            rtype,
            location,
            tags,
            etag=health_etag(rid),
            order=(*ARM, "etag"),
        ),
        "properties": {
            "provisioningState": "Succeeded",
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
        },
    }


def fhir_service(
    workspace_id: str, name: str, location: str, tags: dict[str, str], tenant: str
) -> Doc:
    """FhirServices_Get (Azure Health Data Services, 2024-03-31 field set)."""
    rid = f"{workspace_id}/fhirservices/{name}"
    workspace = workspace_id.rsplit("/", 1)[-1]
    return {
        **header(
            rid,
            f"{workspace}/{name}",
            "Microsoft.HealthcareApis/workspaces/fhirservices",
            location,
            tags,
            etag=health_etag(rid),
            kind="fhir-R4",
            order=_KINDED,
        ),
        "identity": system_identity(rid, tenant),
        "properties": {
            "provisioningState": "Succeeded",
            "accessPolicies": [],
            "acrConfiguration": {"loginServers": [], "ociArtifacts": []},
            "authenticationConfiguration": {
                "authority": f"https://login.microsoftonline.com/{tenant}",
                "audience": f"https://{workspace}-{name}.fhir.azurehealthcareapis.com",
                "smartProxyEnabled": False,
                "smartIdentityProviders": [],
            },
            "corsConfiguration": {
                "origins": [],
                "headers": [],
                "methods": [],
                "allowCredentials": False,
            },
            "exportConfiguration": {"storageAccountName": None},
            "importConfiguration": {"enabled": False, "initialImportMode": False},
            "resourceVersionPolicyConfiguration": {
                "default": "versioned",
                "resourceTypeOverrides": {},
            },
            "encryption": {"customerManagedKeyEncryption": {"keyEncryptionKeyUrl": None}},
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Disabled",
            "eventState": "Disabled",
        },
    }
