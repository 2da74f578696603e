"""Azure Resource Manager: one client (``client``), the reads (``reader``) and the writes
(``writer``) made through it, and the read throttle (``throttle``).

``ArmReader`` and ``ArmWriter`` build their ``ArmClient`` one way (``client.ArmUser``: the
keyword arguments of ``client.ArmConnection``, or ``from_settings``). ``ArmClient`` is a
:class:`shared.http.ServiceClient`, the seam every outside client of
phiguard is built on (transport, retries honouring ``Retry-After``, typed errors, request
counts, same-origin links).
"""

from __future__ import annotations

from shared.arm.client import ArmClient, ArmError, PreconditionFailed, TransientArmError
from shared.arm.reader import ArmReader
from shared.arm.writer import ArmWriter, WriteResult

__all__ = [
    "ArmClient",
    "ArmError",
    "ArmReader",
    "ArmWriter",
    "PreconditionFailed",
    "TransientArmError",
    "WriteResult",
]
