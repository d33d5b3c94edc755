"""Stable seeds: every random stream is named by the things it belongs to, hashed with SHA-256.

Python's hash() changes between processes; these do not, so every web worker and every job sees
the same trains, bookings and PNRs for the same global seed.
"""
from __future__ import annotations

import hashlib

import numpy as np


def stable_int(*parts: object) -> int:
    """A 64-bit integer from the SHA-256 of the parts (joined by '|')."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stable_rng(*parts: object) -> np.random.Generator:
    """A numpy generator seeded from the SHA-256 of the parts."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))
