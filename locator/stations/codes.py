"""Short public station codes, for ``/s/<code>`` links and the QR code on a poster.

A code is six characters of Crockford's base-32 alphabet (digits and capital letters
without I, L, O and U, so that it can be read aloud and typed from a poster without
confusing 0/O or 1/I/L). It is derived from the station id, so the same station gets the
same code in every database built from the same records; the store keeps the code once
assigned and never changes it, and on the rare collision (30 bits: about one in 2,700
for a new station among 390,000) it derives the next candidate with a salt.
"""

from __future__ import annotations

import hashlib

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 6
_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def candidate_code(station_id: str, salt: int = 0) -> str:
    """The ``salt``-th candidate code of a station (salt 0 is tried first)."""
    key = station_id if salt == 0 else f"{station_id}#{salt}"
    n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    out = []
    for _ in range(CODE_LENGTH):
        n, r = divmod(n, 32)
        out.append(ALPHABET[r])
    return "".join(out)


def normalize_code(text: str) -> str:
    """A code as typed (lower case, spaces, dashes, O for 0, I/L for 1) in canonical form."""
    return "".join(text.split()).replace("-", "").upper().translate(_TYPO)
