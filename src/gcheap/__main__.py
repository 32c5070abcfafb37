"""``python -m gcheap``: the same program as the ``gcheap`` command."""
import sys

from gcheap.cli import main

sys.exit(main())
