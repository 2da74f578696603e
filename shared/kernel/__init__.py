"""The kernel: what the check catalog, the remediations and the application all stand on.

Findings and their statuses, snapshots of ARM documents, resource ids, HIPAA sections, related
documents, change kinds, api-versions, PHI scope and the NSG model. Pure: no I/O, and it imports
nothing above it (checks, remediations or the rest of ``shared``) — an import-linter contract in
``make test`` holds it to that (see README "Layout").
"""
