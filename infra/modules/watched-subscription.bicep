// What phiguard needs in one watched subscription: Reader for its identity, its Event Grid
// system topic (created in this subscription, or reused), and - only in enforce mode - the
// custom remediation role whose actions are exactly `phiguard remediations --permissions`.
targetScope = 'subscription'

param principalId string
param environmentName string
param location string
param tags object
param workspaceId string
@description('{ resourceGroup, name } of the existing system topic of this subscription; {}: create one.')
param existingTopic object = {}
@allowed([ 'off', 'dry-run', 'enforce' ])
param remediationMode string

var readerRole = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var reuseTopic = contains(existingTopic, 'name')
var topicGroupName = reuseTopic ? existingTopic.resourceGroup : 'rg-${environmentName}-events'

// The RBAC actions of every registered remediation (remediations/registry.py), nothing more:
// tests/infra keeps this list equal to `phiguard remediations --permissions`.
var remediationActions = [
  'Microsoft.Insights/diagnosticSettings/delete'
  'Microsoft.Insights/diagnosticSettings/write'
  'Microsoft.Network/networkSecurityGroups/securityRules/write'
  'Microsoft.Storage/storageAccounts/write'
]

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRole)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRole)
  }
}

resource remediationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (remediationMode == 'enforce') {
  name: guid(subscription().id, 'phiguard-remediation')
  properties: {
    roleName: 'phiguard remediation ${subscription().subscriptionId}'
    description: 'The writes of the phiguard safe auto-fixes (phiguard remediations --permissions).'
    type: 'CustomRole'
    assignableScopes: [ subscription().id ]
    permissions: [
      {
        actions: remediationActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource remediationAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (remediationMode == 'enforce') {
  name: guid(subscription().id, principalId, 'phiguard-remediation')
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: remediationRole.id
  }
}

resource topicGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = if (!reuseTopic) {
  name: topicGroupName
  location: location
  tags: tags
}

module topic 'system-topic.bicep' = {
  name: 'phiguard-topic-${uniqueString(subscription().id, environmentName)}'
  scope: resourceGroup(topicGroupName)
  params: {
    topicName: 'evgt-phiguard-${uniqueString(subscription().id)}'
    existingTopicName: reuseTopic ? existingTopic.name : ''
    tags: tags
    workspaceId: workspaceId
  }
  dependsOn: [ topicGroup ]
}

output subscriptionId string = subscription().subscriptionId
output topicResourceGroup string = topicGroupName
output topicName string = topic.outputs.name
output topicPrincipalId string = topic.outputs.principalId
