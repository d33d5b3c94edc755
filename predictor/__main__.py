"""`python -m predictor` / `pnr-predictor`: run one predictor daemon (see server.py)."""
from __future__ import annotations

import sys

from .server import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
