"""The Azure Functions app: triggers only. Each decodes its input, calls the engine, returns.

Kept light on purpose: cold start is a product feature, so nothing heavy is imported here.
"""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
