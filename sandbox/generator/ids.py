"""Deterministic identifiers: Salesforce record Ids, Shopify numeric ids, UUID-shaped ids.

Salesforce Ids are 15 case-sensitive characters (3-character key prefix, 2-character pod, a
reserved character, a base-62 serial) plus the 3-character case-insensitivity checksum. The
generator uses its own pod (``5g``) so records it seeds never collide with records the sandbox
server creates later through the API.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

KEY_PREFIX: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "Campaign": "701",
    "CampaignMember": "00v",
    "Task": "00T",
    "User": "005",
}
GENERATOR_POD = "5g"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_checksum(id15: str) -> str:
    """The 3-character suffix Salesforce appends to a 15-character Id."""
    chars = []
    for start in (0, 5, 10):
        bits = 0
        for pos, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        chars.append(_CHECKSUM_ALPHABET[bits])
    return "".join(chars)


def sf_id(sobject: str, serial: int) -> str:
    """The 18-character Id of the ``serial``-th generated record of ``sobject`` (serial >= 0)."""
    digits = []
    n = serial + 1
    for _ in range(9):
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
    if n:
        raise ValueError(f"serial {serial} is too large for a {sobject} Id")
    id15 = KEY_PREFIX[sobject] + GENERATOR_POD + "0" + "".join(reversed(digits))
    return id15 + sf_checksum(id15)


def is_sf_id(value: object, sobject: str | None = None) -> bool:
    """True for an 18-character Id with a valid checksum (and the object's prefix, if given)."""
    if not isinstance(value, str) or len(value) != 18 or not value.isalnum():
        return False
    if sobject is not None and not value.startswith(KEY_PREFIX[sobject]):
        return False
    return sf_checksum(value[:15]) == value[15:]


def digest(seed: int, *parts: object, size: int = 16) -> bytes:
    """Stable pseudo-random bytes for a key: the same (seed, parts) always gives the same bytes."""
    key = "\x1f".join(str(p) for p in (seed, *parts)).encode()
    return hashlib.blake2b(key, digest_size=size).digest()


def stable_uuid(seed: int, *parts: object) -> str:
    """A version-4-shaped UUID string derived from the key."""
    return str(uuid.UUID(bytes=digest(seed, *parts), version=4))


def stable_hex(seed: int, *parts: object, size: int = 8) -> str:
    return digest(seed, *parts, size=size).hex()


_MASK = (1 << 64) - 1


def mix64(seed: int, salt: str, *columns: np.ndarray) -> np.ndarray:
    """Stable pseudo-random uint64 per row of integer ``columns`` (a vectorised keyed hash).

    The same (seed, salt, values) always give the same number, whatever else is in the batch, so
    per-person values (a device's IP, its anonymousId) can be computed for everyone at once or for one.
    """
    key = int.from_bytes(digest(seed, "mix64", salt, size=8), "big")
    with np.errstate(over="ignore"):
        h = np.full(len(columns[0]) if columns else 1, key, dtype=np.uint64)
        for column in columns:
            h ^= np.asarray(column, dtype=np.int64).astype(np.uint64)
            h = _splitmix(h + np.uint64(0x9E3779B97F4A7C15))
    return h


def _splitmix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uuid4_strings(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Version-4-shaped UUID strings (numpy ``S36``) from two uint64 columns."""
    raw = np.empty((len(high), 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = high, low
    b = raw.view(np.uint8).reshape(len(high), 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    nibbles = np.stack([b >> 4, b & 0x0F], axis=2).reshape(len(high), 32)
    hexchars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    out = np.full((len(high), 36), ord("-"), dtype=np.uint8)
    for src, dst, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst : dst + width] = hexchars[:, src : src + width]
    return out.reshape(-1).view("S36")


def sf_ids(sobject: str, serials: np.ndarray) -> np.ndarray:
    """``sf_id`` for many serials at once, as a numpy ``S18`` array."""
    n = np.asarray(serials, dtype=np.int64) + 1
    if len(n) and int(n.max()) >= 62**9:
        raise ValueError(f"serial {int(n.max()) - 1} is too large for a {sobject} Id")
    alphabet = np.frombuffer(_BASE62.encode(), dtype=np.uint8)
    out = np.empty((len(n), 18), dtype=np.uint8)
    out[:, :6] = np.frombuffer((KEY_PREFIX[sobject] + GENERATOR_POD + "0").encode(), dtype=np.uint8)
    for pos in range(14, 5, -1):
        n, rem = np.divmod(n, 62)
        out[:, pos] = alphabet[rem]
    upper = (out[:, :15] >= ord("A")) & (out[:, :15] <= ord("Z"))
    weights = 1 << np.arange(5)
    checksum = np.frombuffer(_CHECKSUM_ALPHABET.encode(), dtype=np.uint8)
    for block in range(3):
        out[:, 15 + block] = checksum[(upper[:, 5 * block : 5 * block + 5] * weights).sum(axis=1)]
    return out.reshape(-1).view("S18")


def sf_id_list(sobject: str, count: int) -> list[str]:
    """The Ids of serials 0 .. count-1 as Python strings."""
    return sf_ids(sobject, np.arange(count)).astype("U18").tolist()
