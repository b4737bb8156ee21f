"""Salesforce-shaped record ids: 15 case-sensitive characters plus a 3-character case checksum."""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
_SHAPE_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id safe for case-insensitive systems."""
    out = []
    for chunk in range(3):
        flags = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << pos
        out.append(_SUFFIX_ALPHABET[flags])
    return "".join(out)


def looks_like_id(value: str) -> bool:
    """True for a string shaped like a 15- or 18-character id (seeded ids may carry any suffix)."""
    return isinstance(value, str) and _SHAPE_RE.match(value) is not None


def to18(value: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters; other strings come back unchanged."""
    if isinstance(value, str) and len(value) == 15 and _ID_RE.match(value):
        return value + checksum(value)
    return value


def make_id(prefix: str, number: int, pod: str = "8c") -> str:
    """An 18-character id with the object's key prefix, e.g. ``make_id("003", 1)``."""
    digits = []
    n = number
    for _ in range(10):
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
    id15 = f"{prefix}{pod}{''.join(reversed(digits))}"
    return id15 + checksum(id15)
