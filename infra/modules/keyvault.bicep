// Key Vault: RBAC only (no access policies), purge protection, private endpoint only. Holds the
// customer-managed key of phiguard's storage and the notification / tracker secrets, which the
// operator sets after deployment and the app reads through Key Vault references.
param location string
param token string
param tags object
param identityPrincipalId string
param workspaceId string
param endpointSubnetId string
param vaultZoneId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-phg-${take(token, 16)}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'premium' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    // Trusted services (Azure Storage unwrapping its customer-managed key) still reach it.
    networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices' }
  }
}

// RSA-HSM 3072, rotated yearly; storage follows the newest version (no version in keyvaultproperties).
resource storageKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'phiguard-storage'
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [ 'wrapKey', 'unwrapKey' ]
    attributes: { enabled: true, exp: 1893456000 }
    rotationPolicy: {
      attributes: { expiryTime: 'P2Y' }
      lifetimeActions: [
        { action: { type: 'rotate' }, trigger: { timeAfterCreate: 'P1Y' } }
        { action: { type: 'notify' }, trigger: { timeBeforeExpiry: 'P30D' } }
      ]
    }
  }
}

// Built-in roles: Key Vault Crypto Service Encryption User (wrap/unwrap with the storage key),
// Key Vault Secrets User (read secret values for Key Vault references). Neither can delete.
var cryptoServiceEncryptionUser = 'e147488a-f6f5-4113-8e2d-b22465e65bf6'
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource keyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageKey.id, identityPrincipalId, cryptoServiceEncryptionUser)
  scope: storageKey
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cryptoServiceEncryptionUser)
  }
}

resource secretAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

resource vaultEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-${vault.name}'
  location: location
  tags: tags
  properties: {
    subnet: { id: endpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: { privateLinkServiceId: vault.id, groupIds: [ 'vault' ] }
      }
    ]
  }
}

resource vaultDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: vaultEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [ { name: 'vault', properties: { privateDnsZoneId: vaultZoneId } } ]
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [ { categoryGroup: 'audit', enabled: true } ]
  }
}

output vaultName string = vault.name
output vaultUri string = 'https://${vault.name}${environment().suffixes.keyvaultDns}/'
output storageKeyName string = storageKey.name
