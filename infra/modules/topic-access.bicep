// Each system topic's identity may add messages to phiguard's event queue and write dead
// letters, nothing else: Storage Queue Data Message Sender on the queue, Storage Blob Data
// Contributor on the dead-letter container.
param runtimeStorageName string
param queueName string
param deadLetterContainer string
param topicPrincipalIds array

var queueSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var blobContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  name: '${runtimeStorageName}/default/${queueName}'
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${runtimeStorageName}/default/${deadLetterContainer}'
}

resource send 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principal in topicPrincipalIds: {
  name: guid(queue.id, principal, queueSender)
  scope: queue
  properties: {
    principalId: principal
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueSender)
  }
}]

resource deadLetter 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principal in topicPrincipalIds: {
  name: guid(deadLetters.id, principal, blobContributor)
  scope: deadLetters
  properties: {
    principalId: principal
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobContributor)
  }
}]
