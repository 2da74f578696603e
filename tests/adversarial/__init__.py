"""Adversarial property tests: hostile deliveries, ids, tags and documents (``strategies``),
pure-layer properties (``test_pure_*``), end-to-end properties against the sim and Azurite
(``test_e2e``) and the inputs they found (``test_regressions``).

``make test`` runs a bounded, derandomized budget (``profile``); a deeper, randomized hunt:
``PHIGUARD_ADVERSARIAL_EXAMPLES=2000 .venv/bin/pytest -n 2 tests/adversarial``.
"""
