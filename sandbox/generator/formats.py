"""How the same fact gets written differently by different systems: phones, emails, names."""

from __future__ import annotations

import unicodedata

import numpy as np

_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters only, the way people turn a name into an email local part."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def fill_pattern(pattern: str, digits: str, letters: str = "") -> str:
    """Replace each '#' in ``pattern`` with the next digit and each 'A' with the next letter."""
    out = []
    d = iter(digits)
    a = iter(letters)
    for char in pattern:
        if char == "#":
            out.append(next(d))
        elif char == "A":
            out.append(next(a))
        else:
            out.append(char)
    return "".join(out)


def e164(calling_code: str, nsn: str) -> str:
    return f"+{calling_code}{nsn}"


def _groups(nsn: str, sizes: tuple[int, ...]) -> list[str]:
    out, pos = [], 0
    for size in sizes:
        out.append(nsn[pos : pos + size])
        pos += size
    if pos < len(nsn):
        out[-1] += nsn[pos:]
    return out


def _grouping(country: str, nsn: str) -> tuple[int, ...]:
    if country == "US":
        return (3, 3, 4)
    if country == "GB":
        if nsn.startswith("7"):
            return (4, 6)
        return (2, 4, 4) if nsn.startswith("2") else (3, 3, 4)
    if country == "DE":
        if nsn.startswith("1"):
            return (3, 8)
        return (2, 8) if nsn[:2] in {"30", "40", "69", "89"} else (3, 7)
    if country == "FR":
        return (1, 2, 2, 2, 2)
    return (3, 3, 3) if nsn.startswith("4") else (1, 4, 4)


PHONE_STYLES = 5


def format_phone(country: str, calling_code: str, nsn: str, style: int) -> str:
    """One of several ways people and systems write the same number (style 0 is E.164)."""
    groups = _groups(nsn, _grouping(country, nsn))
    style %= PHONE_STYLES
    if style == 0:
        return e164(calling_code, nsn)
    if style == 1:
        return f"+{calling_code} " + " ".join(groups)
    if country == "US":
        area, exchange, line = groups
        return (f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}", f"1-{area}-{exchange}-{line}")[
            style - 2
        ]
    national = "0" + " ".join(groups)
    if style == 2:
        return national
    if style == 3:
        return "0" + nsn if country != "FR" else "0" + ".".join(groups)
    return f"00{calling_code} " + " ".join(groups) if country != "DE" else f"0{groups[0]}/{''.join(groups[1:])}"


def mixed_case_email(email: str, style: int) -> str:
    """The same address with different capitalisation, as people type it into forms."""
    local, _, domain = email.partition("@")
    if style % 3 == 0:
        parts = local.split(".")
        return ".".join(p[:1].upper() + p[1:] for p in parts) + "@" + domain
    if style % 3 == 1:
        return email.upper()
    return local + "@" + domain.capitalize()


def plus_tag_email(email: str, tag: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local}+{tag}@{domain}"


def random_digits(rng: np.random.Generator, n: int, width: int) -> list[str]:
    raw = rng.integers(0, 10, size=(n, max(width, 1)))
    raw[:, 0] = np.maximum(raw[:, 0], 2)  # no leading 0/1 in subscriber numbers
    return ["".join(map(str, row)) for row in raw.tolist()]


def fill_patterns(rng: np.random.Generator, patterns: list[str]) -> list[str]:
    width = max(p.count("#") for p in patterns) if patterns else 0
    letters = rng.integers(0, len(_LETTERS), size=(len(patterns), 2)).tolist()
    digits = random_digits(rng, len(patterns), width)
    return [
        fill_pattern(p, d, "".join(_LETTERS[k] for k in lt))
        for p, d, lt in zip(patterns, digits, letters, strict=True)
    ]


def typo(name: str, u: int) -> str:
    """``name`` as someone mistyped it: two letters swapped, a letter doubled, or one dropped."""
    if len(name) < 4:
        return name
    pos = 1 + u % (len(name) - 2)
    kind = (u // 7) % 3
    if kind == 0 and name[pos] != name[pos + 1]:
        return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2:]
    if kind == 1:
        return name[:pos] + name[pos] + name[pos:]
    return name[:pos] + name[pos + 1:]
