"""Fellegi-Sunter weights: ``log2(m / u)`` for each field's agreement level.

m is the share of true duplicate pairs showing the level, u the share of compared (blocked)
pairs of different people showing it. These defaults were estimated on the seeded benchmark
generator (``bench/dedup/calibrate.py``), with the levels' counts smoothed, then rounded; the
prior is the log2 odds that a compared pair is a duplicate. A level missing from a pair (a
field empty on either side) weighs nothing. Each sweep of an organization large enough learns
its own m and u from its contacts (``training``), these being the prior and the fallback.
"""

from __future__ import annotations

import math

# (m, u) per field and level
M_U: dict[str, dict[str, tuple[float, float]]] = {
    "first_name": {
        "exact": (0.66, 0.173),
        "nickname": (0.019, 0.0009),
        "initial": (0.05, 0.0078),
        "prefix": (0.031, 0.0038),
        "typo": (0.156, 0.0125),
        # the generator's names are far apart; in life "John"/"Joan" are two people
        "similar": (0.053, 0.02),
        "different": (0.032, 0.80),
    },
    "last_name": {
        "exact": (0.83, 0.77),
        "partial": (0.033, 0.0103),
        "typo": (0.10, 0.04),
        "similar": (0.027, 0.114),
        "different": (0.013, 0.066),
    },
    "date_of_birth": {
        "exact": (0.86, 0.0157),
        "transposed": (0.025, 0.00031),
        "typo": (0.113, 0.0149),
        "year": (0.004, 0.02),
        "different": (0.0024, 0.95),
    },
    "email": {
        "shared": (0.83, 0.026),
        "local_part": (0.054, 0.0094),
        "different": (0.112, 0.964),
    },
    "phone": {
        "shared": (0.91, 0.053),
        "different": (0.088, 0.947),
    },
    # the address in four parts; a pair whose every part differs moved house: only the
    # part that weighs most against counts (``scoring``), not all four
    "street_number": {
        "exact": (0.88, 0.09),
        "different": (0.12, 0.91),
    },
    "street_name": {
        "exact": (0.86, 0.09),
        "typo": (0.04, 0.006),
        "different": (0.10, 0.904),
    },
    "postcode": {
        "exact": (0.88, 0.45),
        "near": (0.02, 0.05),
        "different": (0.10, 0.50),
    },
    "suburb": {
        "exact": (0.86, 0.45),
        "typo": (0.04, 0.01),
        "different": (0.10, 0.54),
    },
    "identifier": {
        # exclusive ids are unique per contact: sharing one is the same record twice
        "shared": (0.5, 0.00001),
        # a PMS may hold one person twice, but two patient ids lean towards two people
        "conflict": (0.3, 0.6),
    },
}
PRIOR_LOG2_ODDS = math.log2(0.171 / 0.829)
# names written the other way round: rarer in duplicates than straight agreement
SWAP_WEIGHT = -1.0


def weights_from(m_u: dict[str, dict[str, tuple[float, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {level: math.log2(m / u) for level, (m, u) in levels.items()}
        for name, levels in m_u.items()
    }


DEFAULT_WEIGHTS = weights_from(M_U)
