// phiguard deployment: one resource group with the Function App (Flex Consumption, Python 3.11),
// its storage (state tables, deployment package), monitoring, a user-assigned identity, and per
// monitored subscription an Event Grid system topic that feeds resource changes to the app.
// Deployed at subscription scope by `azd up` (azure.yaml) or `az deployment sub create`.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; prefixes every resource name.')
param environmentName string

@description('Region of the phiguard resources (must offer Flex Consumption).')
param location string

@description('Subscriptions phiguard watches (its own included by default).')
param monitoredSubscriptionIds array = [subscription().subscriptionId]

@description('PHIGUARD_PHI_TAGS: tags that put resources in PHI scope.')
param phiTags string = 'data-classification=phi|ephi;hipaa=true'

@description('PHIGUARD_REMEDIATION_MODE: off, dry-run or enforce (overrides every remediation).')
@allowed(['off', 'dry-run', 'enforce'])
param remediationMode string = 'dry-run'

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, application: 'phiguard' }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app.bicep' = {
  name: 'phiguard-app'
  scope: group
  params: {
    location: location
    token: token
    tags: tags
    subscriptionIds: monitoredSubscriptionIds
    phiTags: phiTags
    remediationMode: remediationMode
  }
}

// Least privilege: read access to ARM in each watched subscription (evaluation, sweeps, access
// reviews). Remediation writes need the custom role printed by `phiguard remediations
// --permissions`; it is not granted here so that enforce mode is an explicit decision.
module readers 'subscription-access.bicep' = [for sub in monitoredSubscriptionIds: {
  name: 'phiguard-reader-${sub}'
  scope: subscription(sub)
  params: {
    principalId: app.outputs.identityPrincipalId
    functionAppId: app.outputs.functionAppId
    location: location
    tags: tags
  }
}]

output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_RESOURCE_GROUP string = group.name
