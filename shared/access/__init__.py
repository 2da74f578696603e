"""The weekly access review (HIPAA 164.308(a)(3)(ii)(B), (a)(4)(ii)(B)-(C), (a)(1)(ii)(D)):
every path to PHI — role assignments at and above every PHI scope, PIM eligibilities, Key Vault
access policies, group grants expanded to people — judged by rules, diffed against last week,
written as HTML, CSV and JSON, and the reviewers' decisions taken back.

* ``model`` — grants, principals, role definitions, paths (pure);
* ``rules`` — the rules, pure functions with id, severity and HIPAA citations;
* ``graph`` — Microsoft Graph over REST (users, groups, service principals);
* ``reader`` — reads ARM and Graph into the model;
* ``report`` — JSON, CSV and HTML;
* ``store`` — Blob Storage (``access-reviews/YYYY-Www/``) or a local directory;
* ``engine`` — one review, for the timer and the CLI; ``announcement`` for notifications;
* ``decisions`` — ``phiguard access-review decide``: evidence and the removal plan.
"""
