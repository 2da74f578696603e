// What a watched subscription's system topic sends to phiguard: the three resource events
// shared/events turns into changes, only for the resource providers whose resources the check
// catalog (or a related document, a scope or a flow log) covers; tests/infra keeps both lists
// equal to the code's.
param topicName string
param runtimeStorageId string
param queueName string
param deadLetterContainer string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: topicName
}

resource toPhiguard 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'phiguard-resource-changes'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: runtimeStorageId
          queueName: queueName
          // Seven days: longer than any outage phiguard's daily sweep would not catch up on.
          queueMessageTimeToLiveInSeconds: 604800
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      // Advanced filters compare strings case-insensitively; 23 of the 25 values allowed.
      advancedFilters: [
        {
          key: 'data.operationName'
          operatorType: 'StringBeginsWith'
          values: [
            'Microsoft.Authorization/'
            'Microsoft.Cache/'
            'Microsoft.Cdn/'
            'Microsoft.Compute/'
            'Microsoft.ContainerRegistry/'
            'Microsoft.ContainerService/'
            'Microsoft.DBforMySQL/'
            'Microsoft.DBforPostgreSQL/'
            'Microsoft.DocumentDB/'
            'Microsoft.EventHub/'
            'Microsoft.HealthcareApis/'
            'Microsoft.Insights/'
            'Microsoft.KeyVault/'
            'Microsoft.Network/'
            'Microsoft.OperationalInsights/'
            'Microsoft.RecoveryServices/'
            'Microsoft.Resources/'
            'Microsoft.Search/'
            'Microsoft.Security/'
            'Microsoft.ServiceBus/'
            'Microsoft.Sql/'
            'Microsoft.Storage/'
            'Microsoft.Web/'
          ]
        }
      ]
    }
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
    deadLetterWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: runtimeStorageId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}
