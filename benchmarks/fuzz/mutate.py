"""A small deterministic mutator: the CI smoke test's stand-in for libFuzzer.

Not coverage-guided: it keeps the harness honest (every target runs its seeds and a few thousand
mutants of them on every test run, with or without atheris installed) and catches a regression
that breaks a parser outright. The coverage-guided search is ``python -m benchmarks.fuzz``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF)


def _mutate_once(rng: random.Random, data: bytearray, pool: Sequence[bytes]) -> None:
    choice = rng.randrange(8)
    if not data or choice == 0:  # insert random bytes
        at = rng.randint(0, len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 8))
    elif choice == 1:  # flip a bit
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    elif choice == 2:  # an interesting byte (BER length forms, sign boundaries)
        data[rng.randrange(len(data))] = rng.choice(_INTERESTING)
    elif choice == 3:  # delete a range
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 16)]
    elif choice == 4:  # duplicate a range
        at = rng.randrange(len(data))
        piece = data[at : at + rng.randint(1, 32)]
        data[at:at] = piece
    elif choice == 5:  # splice in part of another input
        other = rng.choice(pool)
        if other:
            start = rng.randrange(len(other))
            at = rng.randrange(len(data))
            data[at : at + rng.randint(0, 16)] = other[start : start + rng.randint(1, 64)]
    elif choice == 6:  # nudge a byte by a small amount (lengths, counts)
        at = rng.randrange(len(data))
        data[at] = (data[at] + rng.choice((-2, -1, 1, 2))) & 0xFF
    else:  # truncate
        del data[rng.randrange(len(data)) :]


def mutants(
    seeds: Sequence[bytes], count: int, *, seed: int = 0, max_len: int = 4096
) -> Iterator[bytes]:
    """``count`` inputs, each a seed with 1 to 4 mutations (same ``seed``, same inputs)."""
    rng = random.Random(seed)
    pool = list(seeds) or [b""]
    for _ in range(count):
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            _mutate_once(rng, data, pool)
        yield bytes(data[:max_len])
