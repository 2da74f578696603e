// The second deployment, run by the azd postdeploy hook once the function code exists: one event
// subscription per watched subscription's system topic, delivering to phiguard's queue with the
// topic's own identity (the storage firewall admits it as a trusted service), retried for 24
// hours, then dead-lettered to blob with the same identity.
targetScope = 'subscription'

@description('The system topics, as main.bicep outputs them (PHIGUARD_EVENT_TOPICS): [ { subscriptionId, resourceGroup, name } ].')
param topicsJson string
@description('Resource id of the runtime storage account (PHIGUARD_RUNTIME_STORAGE_ID).')
param runtimeStorageId string
param queueName string = 'resource-events'
param deadLetterContainer string = 'event-dead-letters'

var topics = json(topicsJson)

module subscriptions 'modules/event-subscription.bicep' = [for topic in topics: {
  name: 'phiguard-events-${uniqueString(topic.subscriptionId, topic.name)}'
  scope: resourceGroup(topic.subscriptionId, topic.resourceGroup)
  params: {
    topicName: topic.name
    runtimeStorageId: runtimeStorageId
    queueName: queueName
    deadLetterContainer: deadLetterContainer
  }
}]
