"""`python -m predictor` / `pnr-predictor`: run one predictor daemon (see server.py)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from plumbing import lastwords

from . import server


def main(argv: Sequence[str] | None = None) -> int:
    """Keep last words for the exit alert, then serve."""
    lastwords.install()
    return server.main(argv)


if __name__ == "__main__":
    sys.exit(main())
