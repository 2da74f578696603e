"""The simulated tenant: a local ARM + Event Grid stand-in for the demo, tests and benchmarks.

Never deployed (see .funcignore) and never imported by function_app.py.
"""
