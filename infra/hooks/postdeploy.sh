#!/bin/sh
# After the code is deployed: close the app's public endpoint again, then create the Event Grid
# subscriptions (the second deployment, infra/events.bicep).
set -eu
: "${AZURE_FUNCTION_APP_ID:?set by azd}"
: "${AZURE_LOCATION:?set by azd}"
: "${PHIGUARD_RUNTIME_STORAGE_ID:?set by azd from the provision outputs}"
: "${PHIGUARD_EVENT_TOPICS:?set by azd from the provision outputs}"
az resource update --ids "$AZURE_FUNCTION_APP_ID/config/web" --set properties.scmIpSecurityRestrictionsDefaultAction=Deny --output none
az resource update --ids "$AZURE_FUNCTION_APP_ID" --set properties.publicNetworkAccess=Disabled --output none
az deployment sub create \
  --name "phiguard-events-${AZURE_ENV_NAME:-phiguard}" \
  --location "$AZURE_LOCATION" \
  --template-file infra/events.bicep \
  --parameters topicsJson="$PHIGUARD_EVENT_TOPICS" runtimeStorageId="$PHIGUARD_RUNTIME_STORAGE_ID" \
  --output none
