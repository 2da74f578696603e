// The Function App (Flex Consumption, Python 3.11): user-assigned identity only, no public
// endpoint (private endpoint + VNet integration), Entra ID authentication in front of every HTTP
// route, secrets from Key Vault references, every app setting phiguard reads set explicitly.
param location string
param token string
param tags object
param identityId string
param identityClientId string
param identityPrincipalId string
param runtimeStorageName string
param runtimeBlobEndpoint string
param stateTableEndpoint string
param evidenceStorageId string
param workspaceId string
param insightsId string
param insightsConnectionString string
param vaultName string
param appSubnetId string
param endpointSubnetId string
param sitesZoneId string
@description('Entra ID app registration (client id) whose tokens the HTTP API accepts.')
param apiAuthClientId string
param settings object
@description('Key Vault secret name per secret setting (TEAMS_WEBHOOK_URL, SMTP_PASSWORD, GITHUB_TOKEN, ADO_PAT); empty: that channel is off and the setting is set empty.')
param secretNames object

var deploymentContainer = 'app-package'
// Secrets never sit in app settings: each is a Key Vault reference, resolved by the platform with
// the app's identity (Key Vault Secrets User).
var secretReferences = {
  PHIGUARD_TEAMS_WEBHOOK_URL: empty(secretNames.TEAMS_WEBHOOK_URL) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${secretNames.TEAMS_WEBHOOK_URL})'
  PHIGUARD_SMTP_PASSWORD: empty(secretNames.SMTP_PASSWORD) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${secretNames.SMTP_PASSWORD})'
  PHIGUARD_GITHUB_TOKEN: empty(secretNames.GITHUB_TOKEN) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${secretNames.GITHUB_TOKEN})'
  PHIGUARD_ADO_PAT: empty(secretNames.ADO_PAT) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${secretNames.ADO_PAT})'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is offered only in some regions; events wait in the queue during a zonal outage and the daily sweep catches up
  name: 'plan-phiguard-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:callers authenticate with Entra ID tokens (authsettingsV2) over the private endpoint; client certificates would add nothing
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; events wait in the storage queue (7 days) and the daily sweep reconciles, so no always-ready instance is needed for failover
  // checkov:skip=CKV_AZURE_213:/api/health needs a function key and an Entra token; the platform probe has neither and would mark healthy instances unhealthy
  name: 'func-phiguard-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'phiguard' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    // Reached only through its private endpoint; the azd deploy hooks open it to the deployer
    // for the upload and close it again (see azure.yaml).
    publicNetworkAccess: 'Disabled'
    virtualNetworkSubnetId: appSubnetId
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      ipSecurityRestrictionsDefaultAction: 'Deny'
      scmIpSecurityRestrictionsDefaultAction: 'Deny'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${runtimeBlobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      // The sweep of a large estate runs long: few instances, enough memory, bounded by the
      // host.json functionTimeout.
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

// Publishing with user names and passwords is off: deployments authenticate with Entra ID.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:false positive - authentication is the authsettingsV2 resource below; this resource holds app settings only
  // checkov:skip=CKV_AZURE_63:false positive - web-app logging checks applied to the app settings resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_65:false positive - web-app logging checks applied to the app settings resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_66:false positive - web-app logging checks applied to the app settings resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_80:false positive - .NET version check on a Python app's settings
  // checkov:skip=CKV_AZURE_88:false positive - Azure Files check on the app settings resource; the app keeps no files
  // checkov:skip=CKV_AZURE_222:false positive - the site sets publicNetworkAccess Disabled; this resource holds no network setting
  parent: site
  name: 'appsettings'
  properties: union({
    AzureWebJobsStorage__accountName: runtimeStorageName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    PHIGUARD_STORAGE_ACCOUNT_URL: stateTableEndpoint
    PHIGUARD_MANAGED_IDENTITY_CLIENT_ID: identityClientId
    PHIGUARD_IDENTITY_APP_ID: identityClientId
    PHIGUARD_REMEDIATION_WORKSPACE_ID: workspaceId
    PHIGUARD_REMEDIATION_ARCHIVE_STORAGE_ID: evidenceStorageId
  }, settings, secretReferences)
}

// Entra ID in front of /api/*: a request without a valid token for the API's app registration
// is answered 401 by the platform before phiguard's code runs.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:false positive - this IS the App Service authentication (authsettingsV2) resource
  // checkov:skip=CKV_AZURE_63:false positive - web-app logging checks applied to the auth config resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_65:false positive - web-app logging checks applied to the auth config resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_66:false positive - web-app logging checks applied to the auth config resource; the site sends FunctionAppLogs to the workspace (siteLogs)
  // checkov:skip=CKV_AZURE_80:false positive - .NET version check on a Python app's auth config resource
  // checkov:skip=CKV_AZURE_88:false positive - Azure Files check on the auth config resource; the app keeps no files
  // checkov:skip=CKV_AZURE_222:false positive - the site sets publicNetworkAccess Disabled; this resource holds no network setting
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: { requireHttps: true }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [ 'api://${apiAuthClientId}', apiAuthClientId ] }
      }
    }
    // A session ends after 30 minutes (45 CFR 164.312(a)(2)(iii), automatic logoff).
    login: {
      tokenStore: { enabled: false }
      cookieExpiration: { convention: 'FixedTime', timeToExpiration: '00:30:00' }
    }
  }
}

resource siteEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-${site.name}'
  location: location
  tags: tags
  properties: {
    subnet: { id: endpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: 'sites'
        properties: { privateLinkServiceId: site.id, groupIds: [ 'sites' ] }
      }
    ]
  }
}

resource siteDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: siteEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [ { name: 'sites', properties: { privateDnsZoneId: sitesZoneId } } ]
  }
}

resource siteLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource runtimeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: runtimeStorageName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: last(split(insightsId, '/'))
}

// Built-in data roles, each at the narrowest scope that works:
// runtime account - Storage Blob Data Owner (host leases, keys, the deployment package: the
// minimum Learn gives for identity-based AzureWebJobsStorage, "Connecting to host storage with an
// identity", and what the Flex Consumption samples assign; Contributor is not enough for the host),
// Storage Queue Data Reader + Message Processor (the resource-events queue trigger),
// Storage Queue Data Message Sender (its poison queue, and the daily timer's subscription-sweeps);
// Application Insights - Monitoring Metrics Publisher (Entra-authenticated telemetry).
var runtimeRoles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  '19e7f393-937e-4f77-808e-94535e297925'
  '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
]

resource runtimeAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in runtimeRoles: {
  name: guid(runtimeStorage.id, identityPrincipalId, role)
  scope: runtimeStorage
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identityPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: insights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
  }
}

output name string = site.name
output id string = site.id
