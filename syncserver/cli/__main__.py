"""``python -m syncserver.cli``."""

import sys

from . import main

sys.exit(main())
