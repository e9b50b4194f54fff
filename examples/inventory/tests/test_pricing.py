from inventory.pricing import parse_price


def test_parse_price_plain_number():
    assert parse_price("12") == 12.0
