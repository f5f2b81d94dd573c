"""Constants written into SQL are the platform's own words, never anything with a quote."""

import pytest

from autostock import db


def test_constant_list_writes_word_constants_and_refuses_anything_else():
    assert db.constant_list(("accepted", "partially_filled")) == "('accepted', 'partially_filled')"
    for bad in ((), ("x'; DROP TABLE orders; --",), ("a b",), ("",)):
        with pytest.raises(ValueError):
            db.constant_list(bad)
