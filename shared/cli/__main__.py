"""``python -m shared.cli``: the ``phiguard`` command."""

import sys

from shared.cli import main

sys.exit(main())
