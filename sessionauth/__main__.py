"""`python -m sessionauth serve|migrate|...`: the `sessionauth` command."""

import sys

from sessionauth.cli import main

sys.exit(main())
