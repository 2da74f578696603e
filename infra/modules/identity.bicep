// The one identity phiguard runs as: ARM reads (Reader per watched subscription), remediation
// writes (the custom role, enforce mode only), its own storage and Key Vault secrets.
param location string
param token string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-phiguard-${token}'
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
