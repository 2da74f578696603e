"""Issue trackers behind one small interface (issue #11): a finding's fingerprint, the issue
rendered from it (no PHI, no secrets, untrusted text inert), GitHub Issues and Azure DevOps Work
Items on the client seam (``shared.http.ServiceClient``), and routing from settings.

Nothing here is wired into the pipeline yet; :mod:`shared.issues.model` is the interface.
"""
