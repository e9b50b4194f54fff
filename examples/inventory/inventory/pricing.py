"""Prices: parsing, discounts and a shopping cart."""

from __future__ import annotations

from dataclasses import dataclass, field


def parse_price(text: str) -> float:
    """Parse a price such as "$1,234.50" or "12" into a float.

    Raises ValueError for empty text or text that is not a number.
    """
    cleaned = text.strip().replace(",", "")
    if cleaned.startswith("$"):
        cleaned = cleaned[1:]
    if not cleaned:
        raise ValueError("empty price")
    value = float(cleaned)
    if value < 0:
        raise ValueError("price cannot be negative")
    return round(value, 2)


def apply_discount(price: float, percent: float) -> float:
    """Return ``price`` reduced by ``percent`` (0-100), rounded to cents."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return round(price * (100 - percent) / 100, 2)


@dataclass
class Cart:
    """Items with unit prices and quantities."""

    items: dict[str, tuple[float, int]] = field(default_factory=dict)

    def add(self, name: str, price: float, quantity: int = 1) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if name in self.items:
            old_price, old_quantity = self.items[name]
            self.items[name] = (old_price, old_quantity + quantity)
        else:
            self.items[name] = (price, quantity)

    def remove(self, name: str) -> None:
        if name not in self.items:
            raise KeyError(name)
        del self.items[name]

    def total(self, discount_percent: float = 0) -> float:
        subtotal = sum(price * quantity for price, quantity in self.items.values())
        if discount_percent:
            return apply_discount(subtotal, discount_percent)
        return round(subtotal, 2)
