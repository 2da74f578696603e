// phiguard deployment (`azd up`, or `az deployment sub create`), at subscription scope:
// - rg-<env> with the Function App (Flex Consumption, Python 3.11), its user-assigned identity,
//   two storage accounts (runtime: host, package, event queue, dead letters; state and evidence:
//   tables and the WORM evidence container), Key Vault, Log Analytics + Application Insights and
//   a private network, everything logged to the workspace;
// - in every watched subscription: Reader, the Event Grid system topic (in that subscription),
//   and in enforce mode the custom remediation role.
// The event subscriptions are created after the code is deployed: infra/events.bicep, run by
// the azd postdeploy hook (azure.yaml).
// Tagged as PHI: phiguard's own data says which resources fail which HIPAA controls, so it is
// held to the catalog's PHI checks (`phiguard evaluate infra/` in the tests).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names every resource.')
param environmentName string

@description('Region of the phiguard resources (must offer Flex Consumption).')
param location string

@description('Comma-separated subscriptions phiguard watches (PHIGUARD_SUBSCRIPTIONS); empty: this one. The deployer needs Owner (or Contributor + User Access Administrator) on each.')
param watchedSubscriptions string = ''

@description('System topics that already exist, by subscription id: { "<subscription id>": { "resourceGroup": "...", "name": "..." } }. Only one Microsoft.Resources.Subscriptions topic may exist per subscription.')
param existingSystemTopics object = {}

@description('Entra ID app registration (client id) whose tokens the HTTP API accepts.')
param apiAuthClientId string

@description('PHIGUARD_PHI_TAGS')
param phiTags string = 'data-classification=phi|ephi;hipaa=true'
param phiSubscriptionIds array = []
param phiResourceGroupIds array = []

@description('PHIGUARD_REMEDIATION_MODE. enforce also creates and assigns the custom remediation role.')
@allowed([ 'off', 'dry-run', 'enforce' ])
param remediationMode string = 'dry-run'
param remediationModes string = ''
@description('PHIGUARD_REMEDIATION_ALLOW: remediation ids allowed to write in enforce mode.')
param remediationAllow string = ''
@allowed([ 'deny', 'restrict' ])
param remediationNsgStrategy string = 'deny'
param remediationAdminCidrs string = ''
param exemptionApprovers string = ''
param exemptionMaxDays int = 365

@description('Notification channels; secrets are Key Vault secret names, set after deployment (README).')
param notifyEmailTo string = ''
param notifyRoutes string = ''
param notifyOwnerDomains string = ''
param emailSender string = ''
param acsEndpoint string = ''
param smtpHost string = ''
param smtpPort int = 587
param smtpUsername string = ''
@allowed([ 'auto', 'required', 'off' ])
param smtpStarttls string = 'required'
param teamsWebhookSecretName string = ''
param smtpPasswordSecretName string = ''
param issuesRoutes string = ''

@description('The app\'s base URL, for the link from an issue to its finding (https://APP.azurewebsites.net); empty: no link.')
param publicUrl string = ''
param githubTokenSecretName string = ''
param adoPatSecretName string = ''

var watchedSubscriptionIds = empty(watchedSubscriptions) ? [ subscription().subscriptionId ] : split(watchedSubscriptions, ',')
var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'phiguard'
  'data-classification': 'phi'
}
var tablePrefix = 'phiguard'
var eventsQueue = 'resource-events'
// The daily sweep's fan-out: the reconcile timer queues one message per subscription here.
var sweepsQueue = 'subscription-sweeps'
var deadLetterContainer = 'event-dead-letters'
var evidenceContainer = 'evidence'
var evidenceRetentionDays = 2192

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'phiguard-identity'
  scope: group
  params: { location: location, token: token, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'phiguard-monitoring'
  scope: group
  params: { location: location, token: token, tags: tags }
}

module network 'modules/network.bicep' = {
  name: 'phiguard-network'
  scope: group
  params: {
    location: location
    token: token
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    insightsId: monitoring.outputs.insightsId
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'phiguard-vault'
  scope: group
  params: {
    location: location
    token: token
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    endpointSubnetId: network.outputs.endpointSubnetId
    vaultZoneId: network.outputs.vaultZoneId
  }
}

module runtimeStorage 'modules/storage.bicep' = {
  name: 'phiguard-runtime-storage'
  scope: group
  params: {
    location: location
    name: 'stphgrt${take(token, 17)}'
    tags: tags
    identityId: identity.outputs.id
    vaultUri: vault.outputs.vaultUri
    keyName: vault.outputs.storageKeyName
    workspaceId: monitoring.outputs.workspaceId
    endpointSubnetId: network.outputs.endpointSubnetId
    endpointZones: [
      { service: 'blob', zoneId: network.outputs.blobZoneId }
      { service: 'table', zoneId: network.outputs.tableZoneId }
      { service: 'queue', zoneId: network.outputs.queueZoneId }
    ]
    containers: [ 'app-package', deadLetterContainer ]
    queues: [ eventsQueue, '${eventsQueue}-poison', sweepsQueue, '${sweepsQueue}-poison' ]
  }
}

module evidenceStorage 'modules/storage.bicep' = {
  name: 'phiguard-evidence-storage'
  scope: group
  params: {
    location: location
    name: 'stphgev${take(token, 17)}'
    tags: tags
    identityId: identity.outputs.id
    vaultUri: vault.outputs.vaultUri
    keyName: vault.outputs.storageKeyName
    workspaceId: monitoring.outputs.workspaceId
    endpointSubnetId: network.outputs.endpointSubnetId
    endpointZones: [
      { service: 'blob', zoneId: network.outputs.blobZoneId }
      { service: 'table', zoneId: network.outputs.tableZoneId }
    ]
    wormContainers: [ { name: evidenceContainer, days: evidenceRetentionDays }, { name: 'access-reviews', days: evidenceRetentionDays } ]
    tables: [
      '${tablePrefix}state'
      '${tablePrefix}poison'
      '${tablePrefix}events'
      '${tablePrefix}reads'
      '${tablePrefix}outbox'
      '${tablePrefix}remediations'
      '${tablePrefix}exemptions'
    ]
  }
}

module evidenceAccess 'modules/evidence-access.bicep' = {
  name: 'phiguard-evidence-access'
  scope: group
  params: {
    identityPrincipalId: identity.outputs.principalId
    evidenceStorageName: evidenceStorage.outputs.name
    outboxTableName: '${tablePrefix}outbox'
  }
}

module diagnosticsDestinations 'modules/diagnostics-destinations.bicep' = {
  name: 'phiguard-diagnostics-destinations'
  scope: group
  params: {
    identityPrincipalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    evidenceStorageName: evidenceStorage.outputs.name
    remediationMode: remediationMode
  }
}

module flowLogs 'modules/flow-logs.bicep' = {
  name: 'phiguard-flow-logs'
  scope: resourceGroup('NetworkWatcherRG')
  params: {
    location: location
    tags: tags
    vnetId: network.outputs.vnetId
    evidenceStorageId: evidenceStorage.outputs.id
    workspaceResourceId: monitoring.outputs.workspaceId
  }
}

// settings: every other PHIGUARD_* setting the code reads (shared/config.py SETTINGS_DOC,
// shared/notify/settings.py, shared/issues/routing.py), explicit so the deployed configuration
// is what this file says. Not set on purpose: STORAGE_CONNECTION_STRING and
// ACS_CONNECTION_STRING (they carry account keys; the identity is used instead) and CA_CERT
// (the simulated tenant's CA). tests/infra keeps this list equal to the code's.
module app 'modules/app.bicep' = {
  name: 'phiguard-app'
  scope: group
  params: {
    location: location
    token: token
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    runtimeStorageName: runtimeStorage.outputs.name
    runtimeBlobEndpoint: runtimeStorage.outputs.blobEndpoint
    stateTableEndpoint: evidenceStorage.outputs.tableEndpoint
    evidenceStorageId: evidenceStorage.outputs.id
    workspaceId: monitoring.outputs.workspaceId
    insightsId: monitoring.outputs.insightsId
    insightsConnectionString: monitoring.outputs.insightsConnectionString
    vaultName: vault.outputs.vaultName
    appSubnetId: network.outputs.appSubnetId
    endpointSubnetId: network.outputs.endpointSubnetId
    sitesZoneId: network.outputs.sitesZoneId
    apiAuthClientId: apiAuthClientId
    secretNames: {
      TEAMS_WEBHOOK_URL: teamsWebhookSecretName
      SMTP_PASSWORD: smtpPasswordSecretName
      GITHUB_TOKEN: githubTokenSecretName
      ADO_PAT: adoPatSecretName
    }
    settings: {
      PHIGUARD_TABLE_PREFIX: tablePrefix
      PHIGUARD_ARM_URL: 'https://management.azure.com'
      PHIGUARD_SUBSCRIPTIONS: join(watchedSubscriptionIds, ',')
      PHIGUARD_PHI_SUBSCRIPTIONS: join(phiSubscriptionIds, ',')
      PHIGUARD_PHI_RESOURCE_GROUPS: join(phiResourceGroupIds, ',')
      PHIGUARD_PHI_TAGS: phiTags
      PHIGUARD_RECONCILE_SCHEDULE: '0 30 2 * * *'
      PHIGUARD_ARM_MAX_RETRIES: '4'
      PHIGUARD_ARM_RETRY_BUDGET_SECONDS: '30'
      PHIGUARD_ARM_TIMEOUT_SECONDS: '20'
      PHIGUARD_REMEDIATION_MODE: remediationMode
      PHIGUARD_REMEDIATION_MODES: remediationModes
      PHIGUARD_REMEDIATION_ALLOW: remediationAllow
      PHIGUARD_REMEDIATION_NSG_STRATEGY: remediationNsgStrategy
      PHIGUARD_REMEDIATION_ADMIN_CIDRS: remediationAdminCidrs
      PHIGUARD_REMEDIATION_HOURLY_CAP: '20'
      PHIGUARD_REMEDIATION_FLAP_LIMIT: '3'
      PHIGUARD_REMEDIATION_FLAP_WINDOW_SECONDS: '3600'
      PHIGUARD_EXEMPTION_MAX_DAYS: string(exemptionMaxDays)
      PHIGUARD_EXEMPTION_APPROVERS: exemptionApprovers
      PHIGUARD_EVIDENCE_CONTAINER: evidenceContainer
      PHIGUARD_EVIDENCE_SCHEDULE: '0 0 1 * * *'
      PHIGUARD_CHECKS: ''
      PHIGUARD_EXCLUDED_CHECKS: ''
      PHIGUARD_MUTE_MAX_DAYS: '180'
      PHIGUARD_EMAIL_SENDER: emailSender
      PHIGUARD_ACS_ENDPOINT: acsEndpoint
      PHIGUARD_SMTP_HOST: smtpHost
      PHIGUARD_SMTP_PORT: string(smtpPort)
      PHIGUARD_SMTP_USERNAME: smtpUsername
      PHIGUARD_SMTP_STARTTLS: smtpStarttls
      PHIGUARD_NOTIFY_EMAIL_TO: notifyEmailTo
      PHIGUARD_NOTIFY_ROUTES: notifyRoutes
      PHIGUARD_NOTIFY_OWNER_TAG: 'owner'
      PHIGUARD_NOTIFY_OWNER_DOMAINS: notifyOwnerDomains
      PHIGUARD_OUTBOX_MAX_ATTEMPTS: '8'
      PHIGUARD_OUTBOX_BASE_DELAY_SECONDS: '30'
      PHIGUARD_OUTBOX_MAX_DELAY_SECONDS: '3600'
      PHIGUARD_OUTBOX_RETENTION_DAYS: '30'
      PHIGUARD_OUTBOX_SCHEDULE: '0 */1 * * * *'
      PHIGUARD_DIGEST_SCHEDULE: '0 0 7 * * *'
      PHIGUARD_DIGEST_HOURS: '24'
      PHIGUARD_NOTIFY_IMMEDIATE_PER_HOUR: '20'
      PHIGUARD_ISSUES_ROUTES: issuesRoutes
      PHIGUARD_GITHUB_API_URL: 'https://api.github.com'
      PHIGUARD_ADO_URL: 'https://dev.azure.com'
      PHIGUARD_ADO_WORK_ITEM_TYPE: 'Issue'
      PHIGUARD_ADO_CLOSED_STATE: 'Closed'
      PHIGUARD_ADO_REOPENED_STATE: 'Active'
      PHIGUARD_PUBLIC_URL: publicUrl
      PHIGUARD_OWNER_TAG: 'owner'
      PHIGUARD_GRAPH_URL: 'https://graph.microsoft.com'
      PHIGUARD_ACCESS_REVIEW_SCHEDULE: '0 0 6 * * 1'
      PHIGUARD_ACCESS_REVIEW_INACTIVE_DAYS: '90'
    }
  }
}

module watched 'modules/watched-subscription.bicep' = [for sub in watchedSubscriptionIds: {
  name: 'phiguard-watch-${uniqueString(sub, environmentName)}'
  scope: subscription(sub)
  params: {
    principalId: identity.outputs.principalId
    environmentName: environmentName
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
    existingTopic: contains(existingSystemTopics, sub) ? existingSystemTopics[sub] : {}
    remediationMode: remediationMode
  }
}]

module topicAccess 'modules/topic-access.bicep' = {
  name: 'phiguard-topic-access'
  scope: group
  params: {
    runtimeStorageName: runtimeStorage.outputs.name
    queueName: eventsQueue
    deadLetterContainer: deadLetterContainer
    topicPrincipalIds: [for (sub, i) in watchedSubscriptionIds: watched[i].outputs.topicPrincipalId]
  }
}

// Read by azd (the deploy target) and by the postdeploy hook (infra/events.bicep).
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output AZURE_FUNCTION_APP_ID string = app.outputs.id
output PHIGUARD_RUNTIME_STORAGE_ID string = runtimeStorage.outputs.id
output PHIGUARD_EVENTS_QUEUE string = eventsQueue
output PHIGUARD_DEAD_LETTER_CONTAINER string = deadLetterContainer
output PHIGUARD_EVENT_TOPICS array = [for (sub, i) in watchedSubscriptionIds: {
  subscriptionId: sub
  resourceGroup: watched[i].outputs.topicResourceGroup
  name: watched[i].outputs.topicName
}]
