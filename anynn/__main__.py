"""``python -m anynn`` runs the command line."""
import sys

from anynn.cli import main

sys.exit(main())
