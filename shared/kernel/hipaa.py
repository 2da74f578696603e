"""The HIPAA Security Rule sections (45 CFR Part 164, Subpart C) that checks may cite.

Citations are canonical strings such as ``164.312(a)(2)(iv)``. A check citing anything not in
this table fails registry validation, so evidence never points at a section that does not exist.
``kind`` is the rule's own label: a *standard*, or an implementation specification that is
*required* or *addressable* (45 CFR 164.306(d)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["standard", "required", "addressable"]


@dataclass(frozen=True)
class Section:
    citation: str
    name: str
    kind: Kind

    @property
    def part(self) -> str:
        """The top-level section, e.g. ``164.312``."""
        return self.citation.split("(", 1)[0]


_SECTIONS: tuple[tuple[str, str, Kind], ...] = (
    # 164.308 Administrative safeguards
    ("164.308(a)(1)(i)", "Security management process", "standard"),
    ("164.308(a)(1)(ii)(A)", "Risk analysis", "required"),
    ("164.308(a)(1)(ii)(B)", "Risk management", "required"),
    ("164.308(a)(1)(ii)(C)", "Sanction policy", "required"),
    ("164.308(a)(1)(ii)(D)", "Information system activity review", "required"),
    ("164.308(a)(2)", "Assigned security responsibility", "standard"),
    ("164.308(a)(3)(i)", "Workforce security", "standard"),
    ("164.308(a)(3)(ii)(A)", "Authorization and/or supervision", "addressable"),
    ("164.308(a)(3)(ii)(B)", "Workforce clearance procedure", "addressable"),
    ("164.308(a)(3)(ii)(C)", "Termination procedures", "addressable"),
    ("164.308(a)(4)(i)", "Information access management", "standard"),
    ("164.308(a)(4)(ii)(A)", "Isolating health care clearinghouse functions", "required"),
    ("164.308(a)(4)(ii)(B)", "Access authorization", "addressable"),
    ("164.308(a)(4)(ii)(C)", "Access establishment and modification", "addressable"),
    ("164.308(a)(5)(i)", "Security awareness and training", "standard"),
    ("164.308(a)(5)(ii)(A)", "Security reminders", "addressable"),
    ("164.308(a)(5)(ii)(B)", "Protection from malicious software", "addressable"),
    ("164.308(a)(5)(ii)(C)", "Log-in monitoring", "addressable"),
    ("164.308(a)(5)(ii)(D)", "Password management", "addressable"),
    ("164.308(a)(6)(i)", "Security incident procedures", "standard"),
    ("164.308(a)(6)(ii)", "Response and reporting", "required"),
    ("164.308(a)(7)(i)", "Contingency plan", "standard"),
    ("164.308(a)(7)(ii)(A)", "Data backup plan", "required"),
    ("164.308(a)(7)(ii)(B)", "Disaster recovery plan", "required"),
    ("164.308(a)(7)(ii)(C)", "Emergency mode operation plan", "required"),
    ("164.308(a)(7)(ii)(D)", "Testing and revision procedures", "addressable"),
    ("164.308(a)(7)(ii)(E)", "Applications and data criticality analysis", "addressable"),
    ("164.308(a)(8)", "Evaluation", "standard"),
    ("164.308(b)(1)", "Business associate contracts and other arrangements", "standard"),
    # 164.310 Physical safeguards (only the parts a cloud control plane can show)
    ("164.310(d)(1)", "Device and media controls", "standard"),
    ("164.310(d)(2)(iii)", "Accountability", "addressable"),
    ("164.310(d)(2)(iv)", "Data backup and storage", "addressable"),
    # 164.312 Technical safeguards
    ("164.312(a)(1)", "Access control", "standard"),
    ("164.312(a)(2)(i)", "Unique user identification", "required"),
    ("164.312(a)(2)(ii)", "Emergency access procedure", "required"),
    ("164.312(a)(2)(iii)", "Automatic logoff", "addressable"),
    ("164.312(a)(2)(iv)", "Encryption and decryption", "addressable"),
    ("164.312(b)", "Audit controls", "standard"),
    ("164.312(c)(1)", "Integrity", "standard"),
    (
        "164.312(c)(2)",
        "Mechanism to authenticate electronic protected health information",
        "addressable",
    ),
    ("164.312(d)", "Person or entity authentication", "standard"),
    ("164.312(e)(1)", "Transmission security", "standard"),
    ("164.312(e)(2)(i)", "Integrity controls", "addressable"),
    ("164.312(e)(2)(ii)", "Encryption", "addressable"),
    # 164.316 Policies and procedures and documentation requirements
    ("164.316(a)", "Policies and procedures", "standard"),
    ("164.316(b)(1)", "Documentation", "standard"),
    ("164.316(b)(2)(i)", "Time limit", "required"),
    ("164.316(b)(2)(ii)", "Availability", "required"),
    ("164.316(b)(2)(iii)", "Updates", "required"),
)

SECTIONS: dict[str, Section] = {c: Section(c, n, k) for c, n, k in _SECTIONS}

PART_NAMES: dict[str, str] = {
    "164.308": "Administrative safeguards",
    "164.310": "Physical safeguards",
    "164.312": "Technical safeguards",
    "164.316": "Policies and procedures and documentation requirements",
}

# §164.316(b)(2)(i): documentation is kept six years; 6 × 365 + 2 leap days.
RETENTION_DAYS = 2192


def section(citation: str) -> Section:
    """The section for a citation; raises KeyError naming the unknown citation."""
    try:
        return SECTIONS[citation]
    except KeyError:
        raise KeyError(
            f"unknown HIPAA citation {citation!r} (not in shared.kernel.hipaa.SECTIONS)"
        ) from None


def sort_key(citation: str) -> tuple[int, ...]:
    """Orders citations as the regulation does (164.308 before 164.312, (a)(2) before (a)(10))."""
    order = list(SECTIONS)
    return (order.index(citation),) if citation in SECTIONS else (len(order),)
