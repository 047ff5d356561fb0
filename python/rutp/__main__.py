"""``python -m rutp``: see :mod:`rutp._cli`."""

import sys

from ._cli import main

sys.exit(main())
