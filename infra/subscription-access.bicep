// Per watched subscription: Reader for phiguard's identity, and the Event Grid system topic that
// sends resource changes to the on_resource_change function (at-least-once, retried for 24 h).
targetScope = 'subscription'

param principalId string
param functionAppId string
param location string
param tags object

var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRole)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
  }
}

module topic 'system-topic.bicep' = {
  name: 'phiguard-events-${subscription().subscriptionId}'
  scope: resourceGroup(split(functionAppId, '/')[2], split(functionAppId, '/')[4])
  params: {
    subscriptionId: subscription().subscriptionId
    functionAppId: functionAppId
    tags: tags
  }
}
