"""``python -m captum_igos``: the ``captum-igos`` command line."""

import sys

from captum_igos.cli import main

if __name__ == "__main__":
    sys.exit(main())
