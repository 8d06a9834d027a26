"""Apportionment: share a whole number of seats (units, shift slots) out by weight.

Largest remainder (Hamilton): each key gets the floor of its quota ``total * w / sum(w)``; the
seats left go one each to the largest fractional remainders (ties: the earlier key). Used for
units over beats, shift slots over watches and Jiaxing's station groups over districts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["largest_remainder"]


def largest_remainder(total: int, weights: Sequence[float], *, minimum: int = 0) -> list[int]:
    """Apportion *total* seats by *weights* (Hamilton / largest remainder; ties by order).

    Args:
        total: Seats to share out (>= 0).
        weights: One non-negative weight per key; all zero (or none positive) means equal
            weights.
        minimum: Seats every key gets at least (e.g. one unit per watch). When the minimum
            overshoots *total*, seats are taken back one at a time from the key furthest
            above its quota (so the minimum holds only when ``total >= minimum * n``).

    Returns:
        Seats per key, summing to *total*.

    """
    n = len(weights)
    if n == 0:
        return []
    s = float(sum(weights))
    quotas = [total * w / s for w in weights] if s > 0 else [total / n] * n
    seats = [max(minimum, math.floor(q)) for q in quotas]
    left = total - sum(seats)
    order = sorted(range(n), key=lambda i: (-(quotas[i] - math.floor(quotas[i])), i))
    for i in order[: max(0, left)]:
        seats[i] += 1
    while sum(seats) > total:  # the minimum overshot: trim the key furthest above quota
        i = max(range(n), key=lambda i: seats[i] - quotas[i])
        seats[i] -= 1
    return seats
