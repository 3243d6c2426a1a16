"""`python -m bench` (and `torchrun -m bench`) is the same as the `bench` command."""

import sys

from .cli import main

sys.exit(main())
