"""Allow ``python -m checkly_gate``."""

import sys

from checkly_gate.cli import main

sys.exit(main())
