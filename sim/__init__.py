"""The simulated tenant: a local ARM + Event Grid stand-in for the demo, tests and benchmarks,
with GitHub Issues, Azure DevOps work items, Teams webhooks and ACS Email on the same server
(:mod:`sim.channels`).

Never deployed (see .funcignore) and never imported by function_app.py.
"""
