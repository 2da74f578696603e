// One phiguard storage account: Entra ID only (no shared keys), TLS 1.2, HTTPS, no public blob
// access, firewall closed (trusted Azure services such as Event Grid and Network Watcher, acting
// with their managed identity, still deliver), private endpoints, a customer-managed key with
// infrastructure encryption, blob versioning and soft delete, and every access logged.
param location string
param name string
param tags object
param identityId string
param vaultUri string
param keyName string
param workspaceId string
param endpointSubnetId string
@description('The storage services that get a private endpoint, with their private DNS zone: [ { service: blob, zoneId: id } ].')
param endpointZones array
param containers array = []
@description('Evidence containers: { name, days } with a version-level WORM time-based retention of that many days.')
param wormContainers array = []
param queues array = []
param tables array = []

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59:the firewall denies every network (defaultAction Deny); publicNetworkAccess stays Enabled only so that trusted services with a managed identity (Event Grid deliveries and dead letters, Network Watcher flow logs) still reach the account, which Disabled would block
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  // Zone- and geo-redundant: the evidence must outlive a regional outage for six years.
  sku: { name: 'Standard_GZRS' }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    allowedCopyScope: 'PrivateLink'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // Closed to every network; the private endpoints and trusted services get through.
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: []
    }
    encryption: {
      keySource: 'Microsoft.Keyvault'
      requireInfrastructureEncryption: true
      identity: { userAssignedIdentity: identityId }
      keyvaultproperties: { keyname: keyName, keyvaulturi: vaultUri }
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

// No file shares are used; if one is ever created, a deleted share stays recoverable 14 days.
resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: { enabled: true, days: 14 }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    changeFeed: { enabled: true }
    deleteRetentionPolicy: { enabled: true, days: 30 }
    containerDeleteRetentionPolicy: { enabled: true, days: 30 }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: { publicAccess: 'None' }
}]

// Version-level WORM: no blob version can be changed or deleted before its retention expires,
// whatever the caller's role. The policy is created unlocked (ARM cannot lock it); lock it once
// verified (README, first-deployment checklist) so that nobody can shorten it either.
resource evidenceContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in wormContainers: {
  parent: blobService
  name: container.name
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: { enabled: true }
  }
}]

resource worm 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for (container, i) in wormContainers: {
  parent: evidenceContainers[i]
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: container.days
    allowProtectedAppendWrites: false
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queues: {
  parent: queueService
  name: queue
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

resource endpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for endpoint in endpointZones: {
  name: 'pe-${name}-${endpoint.service}'
  location: location
  tags: tags
  properties: {
    subnet: { id: endpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: endpoint.service
        properties: { privateLinkServiceId: account.id, groupIds: [ endpoint.service ] }
      }
    ]
  }
}]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (endpoint, i) in endpointZones: {
  parent: endpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [ { name: endpoint.service, properties: { privateDnsZoneId: endpoint.zoneId } } ]
  }
}]

resource accountMetrics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: account
  properties: {
    workspaceId: workspaceId
    metrics: [ { category: 'Transaction', enabled: true } ]
  }
}

resource blobAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource queueAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource tableAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = 'https://${account.name}.blob.${environment().suffixes.storage}/'
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}/'
output queueEndpoint string = 'https://${account.name}.queue.${environment().suffixes.storage}/'
