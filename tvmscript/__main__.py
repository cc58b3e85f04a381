"""``python -m tvmscript`` is the ``tvmscript`` command (``tvmscript.cli``)."""

import sys

from .cli import main

sys.exit(main())
