#!/bin/sh
# Before provisioning: the region's Network Watcher must exist (phiguard's VNet flow logs live
# under it, in NetworkWatcherRG). Idempotent.
set -eu
: "${AZURE_LOCATION:?set by azd}"
: "${PHIGUARD_API_CLIENT_ID:?create an Entra app registration for the API first (README, Deploy) and azd env set PHIGUARD_API_CLIENT_ID <client id>}"
az network watcher configure --resource-group NetworkWatcherRG --locations "$AZURE_LOCATION" --enabled true --output none
