// phiguard's private network: the Function App's outbound traffic goes through a VNet
// integration subnet; storage, Key Vault, the function's own endpoint and Azure Monitor
// (through an Azure Monitor Private Link Scope) are reached over private endpoints only.
// Every subnet has an NSG; none admits traffic from the Internet.
param location string
param token string
param tags object
param workspaceId string
param insightsId string

var addressSpace = '10.40.0.0/24'
var dnsZoneNames = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.table.${environment().suffixes.storage}'
  'privatelink.queue.${environment().suffixes.storage}'
  'privatelink.vaultcore.azure.net'
  'privatelink.azurewebsites.net'
  'privatelink.monitor.azure.com'
  'privatelink.oms.opinsights.azure.com'
  'privatelink.ods.opinsights.azure.com'
  'privatelink.agentsvc.azure-automation.net'
]

// The default rules already deny inbound Internet traffic; these make the intent explicit and
// keep the subnets closed if someone adds a broad Allow with a higher number.
var closedInbound = [
  {
    name: 'deny-internet-inbound'
    properties: {
      priority: 4000
      direction: 'Inbound'
      access: 'Deny'
      protocol: '*'
      sourceAddressPrefix: 'Internet'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '*'
    }
  }
]

resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-phiguard-app-${token}'
  location: location
  tags: tags
  properties: { securityRules: closedInbound }
}

resource endpointsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-phiguard-pe-${token}'
  location: location
  tags: tags
  properties: { securityRules: closedInbound }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-phiguard-${token}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [ addressSpace ] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: '10.40.0.0/26'
          networkSecurityGroup: { id: appNsg.id }
          // Flex Consumption's VNet integration delegates the subnet to Container Apps.
          delegations: [
            {
              name: 'flex'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: '10.40.0.64/26'
          networkSecurityGroup: { id: endpointsNsg.id }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for zone in dnsZoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (zone, i) in dnsZoneNames: {
  parent: zones[i]
  name: 'phiguard-${token}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

// Azure Monitor Private Link Scope: Application Insights and the workspace take ingestion and
// queries only through it (their public endpoints are closed).
resource monitorScope 'Microsoft.Insights/privateLinkScopes@2021-07-01-preview' = {
  name: 'ampls-phiguard-${token}'
  location: 'global'
  tags: tags
  properties: {
    accessModeSettings: { ingestionAccessMode: 'PrivateOnly', queryAccessMode: 'PrivateOnly' }
  }
}

resource scopedWorkspace 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: monitorScope
  name: 'workspace'
  properties: { linkedResourceId: workspaceId }
}

resource scopedInsights 'Microsoft.Insights/privateLinkScopes/scopedResources@2021-07-01-preview' = {
  parent: monitorScope
  name: 'insights'
  properties: { linkedResourceId: insightsId }
}

resource monitorEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-phiguard-monitor-${token}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/private-endpoints' }
    privateLinkServiceConnections: [
      {
        name: 'azuremonitor'
        properties: {
          privateLinkServiceId: monitorScope.id
          groupIds: [ 'azuremonitor' ]
        }
      }
    ]
  }
  dependsOn: [ scopedWorkspace, scopedInsights ]
}

resource monitorDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: monitorEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      { name: 'monitor', properties: { privateDnsZoneId: zones[5].id } }
      { name: 'oms', properties: { privateDnsZoneId: zones[6].id } }
      { name: 'ods', properties: { privateDnsZoneId: zones[7].id } }
      { name: 'agentsvc', properties: { privateDnsZoneId: zones[8].id } }
      { name: 'blob', properties: { privateDnsZoneId: zones[0].id } }
    ]
  }
}

resource appNsgLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: appNsg
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource endpointsNsgLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: endpointsNsg
  properties: {
    workspaceId: workspaceId
    logs: [ { categoryGroup: 'allLogs', enabled: true } ]
  }
}

resource vnetLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'phiguard-audit'
  scope: vnet
  properties: {
    workspaceId: workspaceId
    metrics: [ { category: 'AllMetrics', enabled: true } ]
  }
}

output vnetId string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/app'
output endpointSubnetId string = '${vnet.id}/subnets/private-endpoints'
output blobZoneId string = zones[0].id
output tableZoneId string = zones[1].id
output queueZoneId string = zones[2].id
output vaultZoneId string = zones[3].id
output sitesZoneId string = zones[4].id
