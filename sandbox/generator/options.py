"""The knobs of one generation run, passed to every part of the company."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    malformed_rate: float = 0.005  # rows crm360 must quarantine (missing field, bad timestamp, wrong type)
    duplicate_rate: float = 0.002  # rows delivered twice
    late_rate: float = 0.02  # events landing in a later day's export than the day they happened
    corrupt_rate: float = 0.0  # --corrupt: rows with one defect of any kind (see messy.CORRUPT_KINDS)
    identity_mess: bool = True  # False: every system writes the same identifiers the same way
    co_purchase: bool = True  # False: baskets have no companion products (no co-purchase structure)
    # Days of order history before the window, delivered in the first day's Shopify export (as a
    # shop's initial export would): gives customers a purchase history to model from day one.
    history_days: int = 0

    def check(self) -> None:
        for name in ("malformed_rate", "duplicate_rate", "late_rate", "corrupt_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if self.history_days < 0:
            raise ValueError(f"history_days must be 0 or more, got {self.history_days}")
