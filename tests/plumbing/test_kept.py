"""plumbing/kept.py: the bounded map the predictor, railsim and the site keep computed values in."""
from __future__ import annotations

from plumbing.kept import Kept


def test_the_least_recently_used_goes_first() -> None:
    kept: Kept[str, int] = Kept(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # now "b" is the least recently used
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)


def test_a_kept_none_is_told_from_a_missing_key() -> None:
    kept: Kept[str, None] = Kept(4)
    missing = object()
    kept.put("not found", None)
    assert kept.get("not found", missing) is None and kept.get("never asked", missing) is missing
