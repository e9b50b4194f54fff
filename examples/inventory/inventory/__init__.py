"""A tiny shop inventory: prices and stock."""
