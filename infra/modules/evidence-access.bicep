// phiguard's data access to its state and evidence account, without the right to delete it:
// a custom role that reads, creates and updates table entities and blobs but holds no delete
// action (tables, entities, containers or blobs), at the account; the one table the app must
// purge (the notification outbox) gets the built-in Table Data Contributor on that table only.
param identityPrincipalId string
param evidenceStorageName string
param outboxTableName string

var writerActions = [
  'Microsoft.Storage/storageAccounts/tableServices/tables/read'
  'Microsoft.Storage/storageAccounts/tableServices/tables/write'
  'Microsoft.Storage/storageAccounts/blobServices/containers/read'
]
var writerDataActions = [
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/read'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/write'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action'
  'Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action'
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'
]

resource evidence 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: evidenceStorageName
}

resource outbox 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${evidenceStorageName}/default/${outboxTableName}'
}

resource writerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'phiguard-evidence-writer')
  properties: {
    roleName: 'phiguard evidence writer (no delete) ${uniqueString(resourceGroup().id)}'
    description: 'Reads and writes phiguard state and evidence; cannot delete tables, entities or blobs.'
    type: 'CustomRole'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: writerActions
        notActions: []
        dataActions: writerDataActions
        notDataActions: []
      }
    ]
  }
}

resource writerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(evidence.id, identityPrincipalId, writerRole.id)
  scope: evidence
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: writerRole.id
  }
}

var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource outboxAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(outbox.id, identityPrincipalId, tableDataContributor)
  scope: outbox
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
  }
}

output writerRoleId string = writerRole.id
output writerDataActions array = writerDataActions
