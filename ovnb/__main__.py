"""``python -m ovnb`` runs the command line."""
import sys

from ovnb.cli import main

sys.exit(main())
