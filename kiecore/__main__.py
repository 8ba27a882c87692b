"""``python -m kiecore`` runs the ``kie`` command."""

import sys

from kiecore.cli import main

sys.exit(main())
