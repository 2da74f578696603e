// Log Analytics and Application Insights: Entra ID (no keys), no public ingestion or query
// (Azure Monitor Private Link Scope only), and six years of total retention (§164.316(b)(2):
// 730 interactive days, the rest in long-term retention) on every table phiguard writes.
param location string
param token string
param tags object

@description('Tables phiguard and its resources write: App Insights, Functions, Storage, Key Vault, NSG / VNet flow analytics, Event Grid delivery failures, workspace audit, Activity log.')
param tableNames array = [
  'AppRequests'
  'AppTraces'
  'AppExceptions'
  'AppDependencies'
  'AppMetrics'
  'AppEvents'
  'FunctionAppLogs'
  'AppServiceAuthenticationLogs'
  'StorageBlobLogs'
  'StorageTableLogs'
  'StorageQueueLogs'
  'AZKVAuditLogs'
  'AzureDiagnostics'
  'AzureMetrics'
  'AegDeliveryFailureLogs'
  'NTANetAnalytics'
  'LAQueryLogs'
  'AzureActivity'
]

var interactiveDays = 730
var totalDays = 2192

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-phiguard-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: interactiveDays
    features: {
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
    publicNetworkAccessForIngestion: 'Disabled'
    publicNetworkAccessForQuery: 'Disabled'
  }
}

resource tables 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = [for table in tableNames: {
  parent: workspace
  name: table
  properties: {
    retentionInDays: interactiveDays
    totalRetentionInDays: totalDays
  }
}]

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-phiguard-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Disabled'
    publicNetworkAccessForQuery: 'Disabled'
    IngestionMode: 'LogAnalytics'
  }
}

// Who queried the workspace (LAQueryLogs): the audit trail of reads of the audit trail.
resource workspaceAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: workspace
  properties: {
    workspaceId: workspace.id
    logs: [ { categoryGroup: 'audit', enabled: true } ]
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output insightsId string = insights.id
output insightsConnectionString string = insights.properties.ConnectionString
