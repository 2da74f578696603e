// The Microsoft.Resources.Subscriptions system topic of one watched subscription, deployed in a
// resource group OF THAT SUBSCRIPTION (a system topic must live in its source's subscription),
// or the one that already exists (only one per subscription is allowed) reused by name. Its
// system-assigned identity delivers to phiguard's queue and dead-letters to blob.
param topicName string
@description('Name of an existing system topic of this subscription to reuse; empty: create one.')
param existingTopicName string = ''
param tags object
param workspaceId string

resource created 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (empty(existingTopicName)) {
  name: topicName
  location: 'global'
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource reused 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = if (!empty(existingTopicName)) {
  name: existingTopicName
}

// DeliveryFailures: events Event Grid could not hand to phiguard's queue.
resource deliveryFailures 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (empty(existingTopicName)) {
  name: 'phiguard-audit'
  scope: created
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [ { category: 'DeliveryFailures', enabled: true } ]
  }
}

output name string = empty(existingTopicName) ? created.name : reused.name
output principalId string = empty(existingTopicName) ? created.identity.principalId : reused.identity.principalId
