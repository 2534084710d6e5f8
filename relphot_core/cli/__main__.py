"""``python -m relphot_core.cli``: the same as the ``relphot`` command."""
import sys

from . import main

sys.exit(main())
