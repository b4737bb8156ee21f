"""The shop's catalog: about 60 products in 8 categories, some of them bought for the weather."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sandbox.generator.reference import SHOP_TIME_ZONE
from sandbox.generator.timeutil import DAY, day_start, iso_offset


@dataclass(frozen=True)
class Category:
    name: str
    code: str
    climate: float  # > 0: bought more in cold months and places; < 0: in warm ones
    sizes: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("Outerwear", "OUT", 1.0, ("S", "M", "L", "XL")),
    Category("Knitwear", "KNT", 0.6, ("S", "M", "L")),
    Category("Footwear", "FTW", 0.2, ("38", "40", "42", "44")),
    Category("Activewear", "ACT", 0.0, ("XS", "S", "M", "L")),
    Category("Accessories", "ACC", 0.3, ()),
    Category("Swimwear", "SWM", -1.0, ("S", "M", "L")),
    Category("Home", "HOM", 0.2, ()),
    Category("Beauty", "BTY", 0.0, ()),
)
CATEGORY_INDEX = {c.name: i for i, c in enumerate(CATEGORIES)}

# (category, title, price in USD, vendor, title of the product it is often bought with)
_PRODUCTS: tuple[tuple[str, str, float, str, str], ...] = (
    ("Outerwear", "Alpine Down Parka", 289.0, "Northwind", "Merino Rib Beanie"),
    ("Outerwear", "Harbor Wool Overcoat", 249.0, "Northwind", "Cashmere Blend Scarf"),
    ("Outerwear", "Storm Shell Rain Jacket", 159.0, "Trailhead", "Waterproof Hiking Boots"),
    ("Outerwear", "Quilted Puffer Vest", 119.0, "Trailhead", "Fleece Quarter Zip"),
    ("Outerwear", "Classic Trench Coat", 219.0, "Atelier Nord", "Leather Touchscreen Gloves"),
    ("Outerwear", "Sherpa Lined Denim Jacket", 139.0, "Atelier Nord", "Chunky Cable Sweater"),
    ("Outerwear", "Expedition Insulated Jacket", 319.0, "Northwind", "Thermal Base Layer Set"),
    ("Outerwear", "Lightweight Packable Jacket", 99.0, "Trailhead", "Trail Running Shoes"),
    ("Knitwear", "Chunky Cable Sweater", 98.0, "Atelier Nord", "Cashmere Blend Scarf"),
    ("Knitwear", "Merino Crew Neck", 89.0, "Atelier Nord", "Harbor Wool Overcoat"),
    ("Knitwear", "Cashmere V-Neck", 149.0, "Atelier Nord", "Cashmere Blend Scarf"),
    ("Knitwear", "Fleece Quarter Zip", 69.0, "Trailhead", "Quilted Puffer Vest"),
    ("Knitwear", "Oversized Cardigan", 85.0, "Maison Lune", "Cozy Knit Throw"),
    ("Knitwear", "Thermal Base Layer Set", 59.0, "Trailhead", "Expedition Insulated Jacket"),
    ("Knitwear", "Fair Isle Pullover", 110.0, "Northwind", "Merino Rib Beanie"),
    ("Footwear", "Waterproof Hiking Boots", 165.0, "Trailhead", "Wool Hiking Socks 3-Pack"),
    ("Footwear", "Shearling Winter Boots", 179.0, "Northwind", "Wool Hiking Socks 3-Pack"),
    ("Footwear", "Trail Running Shoes", 129.0, "Trailhead", "Performance Running Tee"),
    ("Footwear", "Everyday Leather Sneakers", 115.0, "Atelier Nord", "Canvas Weekender Tote"),
    ("Footwear", "Suede Chelsea Boots", 155.0, "Atelier Nord", "Classic Trench Coat"),
    ("Footwear", "Slide Sandals", 45.0, "Maison Lune", "Quick Dry Beach Towel"),
    ("Footwear", "Canvas Slip-Ons", 55.0, "Maison Lune", "Polarized Sunglasses"),
    ("Footwear", "Wool Hiking Socks 3-Pack", 29.0, "Trailhead", "Waterproof Hiking Boots"),
    ("Activewear", "High Rise Leggings", 78.0, "Pulse", "Seamless Sports Bra"),
    ("Activewear", "Seamless Sports Bra", 48.0, "Pulse", "High Rise Leggings"),
    ("Activewear", "Performance Running Tee", 38.0, "Pulse", "Running Shorts 5in"),
    ("Activewear", "Running Shorts 5in", 42.0, "Pulse", "Performance Running Tee"),
    ("Activewear", "Studio Zip Hoodie", 88.0, "Pulse", "High Rise Leggings"),
    ("Activewear", "Cork Yoga Mat", 65.0, "Pulse", "Insulated Water Bottle"),
    ("Activewear", "Insulated Water Bottle", 32.0, "Trailhead", "Cork Yoga Mat"),
    ("Accessories", "Merino Rib Beanie", 35.0, "Northwind", "Leather Touchscreen Gloves"),
    ("Accessories", "Cashmere Blend Scarf", 79.0, "Atelier Nord", "Merino Rib Beanie"),
    ("Accessories", "Leather Touchscreen Gloves", 55.0, "Atelier Nord", "Cashmere Blend Scarf"),
    ("Accessories", "Polarized Sunglasses", 89.0, "Maison Lune", "Wide Brim Sun Hat"),
    ("Accessories", "Wide Brim Sun Hat", 45.0, "Maison Lune", "Polarized Sunglasses"),
    ("Accessories", "Canvas Weekender Tote", 68.0, "Maison Lune", "Leather Card Wallet"),
    ("Accessories", "Leather Card Wallet", 49.0, "Atelier Nord", "Canvas Weekender Tote"),
    ("Accessories", "Recycled Crossbody Bag", 59.0, "Pulse", "Leather Card Wallet"),
    ("Swimwear", "Classic One-Piece Swimsuit", 75.0, "Maison Lune", "Wide Brim Sun Hat"),
    ("Swimwear", "Retro Swim Shorts", 55.0, "Maison Lune", "Quick Dry Beach Towel"),
    ("Swimwear", "Bikini Set", 69.0, "Maison Lune", "Mineral Sunscreen SPF 50"),
    ("Swimwear", "Long Sleeve Rash Guard", 58.0, "Pulse", "Retro Swim Shorts"),
    ("Swimwear", "Quick Dry Beach Towel", 35.0, "Maison Lune", "Slide Sandals"),
    ("Swimwear", "Linen Beach Cover-Up", 62.0, "Maison Lune", "Classic One-Piece Swimsuit"),
    ("Home", "Cozy Knit Throw", 95.0, "Hearth & Co", "Soy Wax Candle Cedar"),
    ("Home", "Soy Wax Candle Cedar", 28.0, "Hearth & Co", "Cozy Knit Throw"),
    ("Home", "Stoneware Mug Set", 42.0, "Hearth & Co", "Loose Leaf Tea Sampler"),
    ("Home", "Loose Leaf Tea Sampler", 24.0, "Hearth & Co", "Stoneware Mug Set"),
    ("Home", "Linen Cushion Cover", 34.0, "Hearth & Co", "Cozy Knit Throw"),
    ("Home", "Flannel Duvet Cover", 129.0, "Hearth & Co", "Linen Cushion Cover"),
    ("Home", "Reed Diffuser Fig", 38.0, "Hearth & Co", "Soy Wax Candle Cedar"),
    ("Home", "Wool Slippers", 49.0, "Northwind", "Cozy Knit Throw"),
    ("Beauty", "Mineral Sunscreen SPF 50", 26.0, "Glow Lab", "Polarized Sunglasses"),
    ("Beauty", "Rich Hand Cream", 18.0, "Glow Lab", "Repair Lip Balm"),
    ("Beauty", "Repair Lip Balm", 9.0, "Glow Lab", "Rich Hand Cream"),
    ("Beauty", "Hydrating Face Serum", 48.0, "Glow Lab", "Daily Face Moisturiser"),
    ("Beauty", "Daily Face Moisturiser", 36.0, "Glow Lab", "Hydrating Face Serum"),
    ("Beauty", "Shower Gel Eucalyptus", 16.0, "Glow Lab", "Rich Hand Cream"),
    ("Beauty", "Travel Essentials Kit", 39.0, "Glow Lab", "Canvas Weekender Tote"),
    ("Beauty", "After Sun Gel", 19.0, "Glow Lab", "Mineral Sunscreen SPF 50"),
)


@dataclass
class Catalog:
    """Products as parallel arrays (for vectorised choice) plus their Shopify objects."""

    product_id: np.ndarray  # int64
    category: np.ndarray  # int index into CATEGORIES
    price_usd: np.ndarray
    companion: np.ndarray  # index of the product often bought together with this one
    title: list[str]
    vendor: list[str]
    variant_ids: list[list[int]]
    skus: list[list[str]]
    handles: list[str]

    @property
    def size(self) -> int:
        return len(self.title)

    def shopify_products(self, first_day: dt.date) -> list[dict]:
        """The catalog as Shopify product objects (identical every day for a given first day)."""
        base = day_start(first_day)
        out = []
        for i in range(self.size):
            created = base - (500 - 5 * i) * DAY + 3_600 * (i % 9)
            updated = created + (60 + i) * DAY
            cat = CATEGORIES[int(self.category[i])]
            price = f"{self.price_usd[i]:.2f}"
            variants = [
                {
                    "id": vid,
                    "product_id": int(self.product_id[i]),
                    "title": sku.rsplit("-", 1)[-1] if cat.sizes else "Default Title",
                    "sku": sku,
                    "price": price,
                    "position": pos + 1,
                }
                for pos, (vid, sku) in enumerate(zip(self.variant_ids[i], self.skus[i], strict=True))
            ]
            out.append(
                {
                    "id": int(self.product_id[i]),
                    "title": self.title[i],
                    "handle": self.handles[i],
                    "product_type": cat.name,
                    "vendor": self.vendor[i],
                    "status": "active",
                    "tags": ", ".join(t for t in (cat.name.lower(), self.vendor[i].lower()) if t),
                    "created_at": iso_offset(created, SHOP_TIME_ZONE),
                    "updated_at": iso_offset(updated, SHOP_TIME_ZONE),
                    "variants": variants,
                }
            )
        return out


def build_catalog() -> Catalog:
    """The fixed catalog (it does not depend on the seed: a shop's catalog is not random)."""
    titles = [p[1] for p in _PRODUCTS]
    index = {t: i for i, t in enumerate(titles)}
    variant_ids, skus, handles = [], [], []
    for i, (cat_name, title, _price, _vendor, _companion) in enumerate(_PRODUCTS):
        cat = CATEGORIES[CATEGORY_INDEX[cat_name]]
        sizes = cat.sizes or ("OS",)
        variant_ids.append([45_120_000_000_000 + i * 10 + v for v in range(len(sizes))])
        skus.append([f"{cat.code}-{i + 1:03d}-{size}" for size in sizes])
        handles.append("-".join("".join(c for c in w.lower() if c.isalnum()) for w in title.split()))
    return Catalog(
        product_id=np.array([8_012_300_000_000 + i * 137 for i in range(len(_PRODUCTS))], dtype=np.int64),
        category=np.array([CATEGORY_INDEX[p[0]] for p in _PRODUCTS], dtype=np.int64),
        price_usd=np.array([p[2] for p in _PRODUCTS]),
        companion=np.array([index[p[4]] for p in _PRODUCTS], dtype=np.int64),
        title=titles,
        vendor=[p[3] for p in _PRODUCTS],
        variant_ids=variant_ids,
        skus=skus,
        handles=handles,
    )


def season_coldness(month: int, southern: bool) -> float:
    """0 in high summer .. 1 in deep winter, for the hemisphere."""
    if southern:
        month = (month + 5) % 12 + 1
    return {12: 1.0, 1: 1.0, 2: 0.9, 3: 0.6, 4: 0.35, 5: 0.15, 6: 0.0, 7: 0.0, 8: 0.05, 9: 0.25,
            10: 0.55, 11: 0.85}[month]
