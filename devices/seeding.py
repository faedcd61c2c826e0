"""Deterministic random streams: the same (seed, patient, purpose, day) gives the same numbers."""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np


def rng_for(
    seed: int, patient_id: str, purpose: str, day: date | None = None
) -> np.random.Generator:
    key = f"{seed}|{patient_id}|{purpose}|{day.isoformat() if day else ''}".encode()
    digest = hashlib.blake2b(key, digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))
