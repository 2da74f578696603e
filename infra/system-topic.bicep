// An Azure subscription system topic lives in a resource group (here phiguard's own) with
// location 'global'; its subscription delivers resource events to the Event Grid trigger.
param subscriptionId string
param functionAppId string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: 'evgt-phiguard-${subscriptionId}'
  location: 'global'
  tags: tags
  properties: {
    source: '/subscriptions/${subscriptionId}'
    topicType: 'Microsoft.Resources.Subscriptions'
  }
  resource toFunction 'eventSubscriptions' = {
    name: 'phiguard-resource-changes'
    properties: {
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionAppId}/functions/on_resource_change'
          maxEventsPerBatch: 1
        }
      }
      filter: {
        includedEventTypes: [
          'Microsoft.Resources.ResourceWriteSuccess'
          'Microsoft.Resources.ResourceDeleteSuccess'
          'Microsoft.Resources.ResourceActionSuccess'
        ]
      }
      eventDeliverySchema: 'EventGridSchema'
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
    }
  }
}
