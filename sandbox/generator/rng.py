"""Named, independent random streams derived from one seed.

Each part of the company (people, CRM, one day of e-mail, ...) draws from its own stream, so
adding a draw in one part never shifts the numbers of another, and a day can be simulated alone.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *names: object) -> np.random.Generator:
    """A numpy Generator for ``seed`` and the given names (strings or ints)."""
    entropy = [int(seed) & 0xFFFFFFFF]
    for name in names:
        entropy.append(name if isinstance(name, int) else zlib.crc32(str(name).encode()))
    return np.random.default_rng(np.random.SeedSequence(entropy))
