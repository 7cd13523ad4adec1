"""``python -m engine`` runs the ``casework`` command."""

import sys

from engine.cli.main import main

sys.exit(main())
