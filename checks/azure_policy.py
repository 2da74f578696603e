"""Built-in Azure Policy definitions that checks may name as their equivalent.

A check's ``azure_policy`` ids must appear here (or in its module's ``POLICY_DEFINITIONS``), so a
mistyped or invented id fails registry validation. Ids and display names are taken from the
Azure/azure-policy repository (built-in-policies/, release 3.2026.0417.1); note that the SQL TDE
definition's name really contains a ``k``.
"""

from __future__ import annotations

HITRUST_HIPAA_INITIATIVE = "a169a624-5599-4385-a696-c8d643089fab"

BUILT_IN: dict[str, str] = {
    "6d555dd1-86f2-4f1c-8ed7-5abae7c6cbab": "Function apps should only be accessible over HTTPS",
    "f0e6e85b-9b9f-4a4b-b67b-f730d42f1b0b": "App Service apps should use the latest TLS version",
    "91a78b24-f231-4a8a-8da9-02c35b2b6510": "App Service apps should have resource logs enabled",
    "a4af4a39-4135-47fb-b175-47fbdf85311d": "App Service apps should only be accessible over HTTPS",
    "a451c1ef-c6ca-483d-87ed-f49761e3ffb5": "Audit usage of custom RBAC roles",
    "6265018c-d7e2-432f-a75d-094d5f6f4465": "Audit Windows machines on which the Log Analytics agent is not connected as expected",
    "cf820ca0-f99e-4f3e-84fb-66e913812d21": "Resource logs in Key Vault should be enabled",
    "0b60c0b2-2dc2-4e1c-b5c9-abbed971de53": "Key vaults should have deletion protection enabled",
    "b954148f-4c11-4c38-8221-be76711e194a": "An activity log alert should exist for specific Administrative operations",
    "7f89b1eb-583c-429a-8828-af049802c1d9": "Audit diagnostic setting for selected resource types",
    "ea4d6841-2173-4317-9747-ff522a45120f": "Key Vault should use a virtual network service endpoint",
    "60d21c4f-21a3-4d94-85f4-b924e6aeeda4": "Storage Accounts should use a virtual network service endpoint",
    "17k78e20-9358-41c9-923c-fb736d382a12": "Transparent Data Encryption on SQL databases should be enabled",
    "a6fb4358-5bf4-4ad7-ba82-2cd2f41ce5e9": "Auditing on SQL server should be enabled",
    "0a370ff3-6cab-4e85-8995-295fd854c5b8": "SQL servers should use customer-managed keys to encrypt data at rest",
    "4f11b553-d42e-4e3a-89be-32ca364cad4c": "A maximum of 3 owners should be designated for your subscription",
    "b0f33259-77d7-4c9e-aac6-3aabcfae693c": "Management ports of virtual machines should be protected with just-in-time network "
    "access control",
    "f6de0be7-9a8a-4b8a-b349-43cf02d22f7c": "Internet-facing virtual machines should be protected with network security groups",
    "e71308d3-144b-4262-b144-efdc3cc90517": "Subnets should be associated with a Network Security Group",
    "22730e10-96f6-4aac-ad84-9383d35b5917": "Management ports should be closed on your virtual machines",
    "9daedab3-fb2d-461e-b861-71790eead4f6": "All network ports should be restricted on network security groups associated to your "
    "virtual machine",
    "404c3081-a854-4457-ae30-26a93ef643f9": "Secure transfer to storage accounts should be enabled",
    "34c877ad-507e-4c82-993e-3452a6e0ad3c": "Storage accounts should restrict network access",
    "4d24b6d4-5e53-4a4f-a7f4-618fa573ee4b": "App Service apps should require FTPS only",
    "12d4fa5e-1f9f-4c21-97a9-b99b3c6611b5": "Azure Key Vault should use RBAC permission model",
    "1e66c121-a66a-4b1f-9b83-0fd99bf0fc2d": "Key vaults should have soft delete enabled",
    "89099bee-89e0-4b26-a5f4-165451757743": "SQL servers with auditing to storage account destination should be configured with 90 "
    "days retention or higher",
    "4fa4b6c0-31ca-4c0d-b10d-24b96f62a751": "Storage account public access should be disallowed",
    "6fac406b-40ca-413b-bf8e-0bf964659c25": "Storage accounts should use customer-managed key for encryption",
    "fe83a0eb-a853-422d-aac2-1bffd182c5d0": "Storage accounts should have the specified minimum TLS version",
}

# Members of the HITRUST/HIPAA initiative (policySetDefinition a169a624-...), among BUILT_IN.
IN_HITRUST_HIPAA_INITIATIVE: frozenset[str] = frozenset(
    {
        "6d555dd1-86f2-4f1c-8ed7-5abae7c6cbab",
        "f0e6e85b-9b9f-4a4b-b67b-f730d42f1b0b",
        "91a78b24-f231-4a8a-8da9-02c35b2b6510",
        "a4af4a39-4135-47fb-b175-47fbdf85311d",
        "a451c1ef-c6ca-483d-87ed-f49761e3ffb5",
        "6265018c-d7e2-432f-a75d-094d5f6f4465",
        "cf820ca0-f99e-4f3e-84fb-66e913812d21",
        "0b60c0b2-2dc2-4e1c-b5c9-abbed971de53",
        "b954148f-4c11-4c38-8221-be76711e194a",
        "7f89b1eb-583c-429a-8828-af049802c1d9",
        "ea4d6841-2173-4317-9747-ff522a45120f",
        "60d21c4f-21a3-4d94-85f4-b924e6aeeda4",
        "17k78e20-9358-41c9-923c-fb736d382a12",
        "a6fb4358-5bf4-4ad7-ba82-2cd2f41ce5e9",
        "0a370ff3-6cab-4e85-8995-295fd854c5b8",
        "4f11b553-d42e-4e3a-89be-32ca364cad4c",
        "b0f33259-77d7-4c9e-aac6-3aabcfae693c",
        "f6de0be7-9a8a-4b8a-b349-43cf02d22f7c",
        "e71308d3-144b-4262-b144-efdc3cc90517",
        "22730e10-96f6-4aac-ad84-9383d35b5917",
        "9daedab3-fb2d-461e-b861-71790eead4f6",
        "404c3081-a854-4457-ae30-26a93ef643f9",
        "34c877ad-507e-4c82-993e-3452a6e0ad3c",
    }
)
