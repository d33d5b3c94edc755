"""`python -m predictor` / `pnr-predictor`: run one predictor daemon (see server.py)."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from . import server
from .lastwords import install_last_words


def main(argv: Sequence[str] | None = None) -> int:
    """Keep last words for the exit alert, then serve."""
    install_last_words()
    return server.main(argv)


if __name__ == "__main__":
    sys.exit(main())
