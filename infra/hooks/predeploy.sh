#!/bin/sh
# The app has no public endpoint. For the upload only, open its deployment (SCM) endpoint; basic
# publishing credentials stay off, so azd still authenticates with Entra ID. postdeploy.sh
# closes it again; if the deploy fails, run postdeploy.sh by hand (README, first deployment).
set -eu
: "${AZURE_FUNCTION_APP_ID:?set by azd from the provision outputs}"
az resource update --ids "$AZURE_FUNCTION_APP_ID" --set properties.publicNetworkAccess=Enabled --output none
az resource update --ids "$AZURE_FUNCTION_APP_ID/config/web" --set properties.scmIpSecurityRestrictionsDefaultAction=Allow --output none
