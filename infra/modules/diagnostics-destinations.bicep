// In enforce mode only: what the diagnostic-settings fix needs on the destinations it names.
// Creating a diagnostic setting is a linked-access check: besides diagnosticSettings/write on the
// resource (the remediation role), the caller needs workspaces/sharedKeys/action on the Log
// Analytics workspace and storageAccounts/listKeys/action on the archive account, or ARM refuses
// with LinkedAuthorizationFailed. Granted here on those two resources alone, never
// subscription-wide (listKeys there would reach every PHI storage account). The archive (the
// state and evidence account) has shared-key access disabled, so its keys open no data.
param identityPrincipalId string
param workspaceId string
param evidenceStorageName string
@allowed([ 'off', 'dry-run', 'enforce' ])
param remediationMode string

var destinationActions = [
  'Microsoft.OperationalInsights/workspaces/read'
  'Microsoft.OperationalInsights/workspaces/sharedKeys/action'
  'Microsoft.Storage/storageAccounts/read'
  'Microsoft.Storage/storageAccounts/listKeys/action'
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(split(workspaceId, '/'))
}

resource evidence 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: evidenceStorageName
}

resource destinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (remediationMode == 'enforce') {
  name: guid(resourceGroup().id, 'phiguard-diagnostic-destinations')
  properties: {
    roleName: 'phiguard diagnostic destinations ${uniqueString(resourceGroup().id)}'
    description: 'Lets phiguard name its workspace and archive account as diagnostic-setting destinations.'
    type: 'CustomRole'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: destinationActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource workspaceAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (remediationMode == 'enforce') {
  name: guid(workspace.id, identityPrincipalId, 'phiguard-diagnostic-destinations')
  scope: workspace
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: destinationRole.id
  }
}

resource archiveAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (remediationMode == 'enforce') {
  name: guid(evidence.id, identityPrincipalId, 'phiguard-diagnostic-destinations')
  scope: evidence
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: destinationRole.id
  }
}
