"""`python -m mitmllm.cli`: the same as the `mitmllm` command."""

import sys

from . import main

sys.exit(main())
