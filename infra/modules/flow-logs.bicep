// VNet flow logs for phiguard's network (NSG flow logs can no longer be created), kept without
// expiry in the evidence storage account. Deployed into the region's Network Watcher resource
// group, which the azd preprovision hook makes sure exists (`az network watcher configure`).
param location string
param tags object
param vnetId string
param evidenceStorageId string
param workspaceResourceId string

resource watcher 'Microsoft.Network/networkWatchers@2024-05-01' existing = {
  name: 'NetworkWatcher_${location}'
}

resource vnetFlowLog 'Microsoft.Network/networkWatchers/flowLogs@2024-05-01' = {
  // checkov:skip=CKV_AZURE_12:retention disabled means Network Watcher never deletes the records (kept six years and more); an enabled policy allows at most 365 days
  parent: watcher
  name: 'phiguard-vnet-${uniqueString(vnetId)}'
  location: location
  tags: tags
  properties: {
    targetResourceId: vnetId
    storageId: evidenceStorageId
    enabled: true
    format: { type: 'JSON', version: 2 }
    // days 0: Network Watcher never deletes the records; the storage lifecycle keeps them.
    retentionPolicy: { enabled: false, days: 0 }
    flowAnalyticsConfiguration: {
      networkWatcherFlowAnalyticsConfiguration: {
        enabled: true
        workspaceResourceId: workspaceResourceId
        trafficAnalyticsInterval: 60
      }
    }
  }
}
