"""The value a PostgreSQL error quotes, which lets the translator name the column.

SQLAlchemy 2.0's asyncpg adapter prefixes the driver's message with the exception's class
(``<class 'asyncpg.exceptions.X'>: ...``), 2.1 does not: both forms must give the value.
"""

from __future__ import annotations

import pytest

from sqlops._translate_common import quoted_value

SERVER = 'invalid input syntax for type inet: "not-an-ip"'
CLIENT = (
    "invalid input for query argument $2: 'not-an-ip' "
    "(expected str, got str: '/' does not appear in the value)"
)
PREFIX = "<class 'asyncpg.exceptions.InvalidTextRepresentationError'>: "


@pytest.mark.parametrize("prefix", ["", PREFIX], ids=["sqlalchemy-2.1", "sqlalchemy-2.0"])
@pytest.mark.parametrize("message", [SERVER, CLIENT], ids=["server", "client"])
def test_the_value_is_found_with_or_without_the_class_prefix(prefix: str, message: str) -> None:
    assert quoted_value(Exception(prefix + message + "\nHINT:  something")) == "not-an-ip"


def test_doubled_quotes_are_one_quote() -> None:
    assert quoted_value(Exception('invalid input value for enum s: "a""b"')) == 'a"b'


@pytest.mark.parametrize("exc", [None, Exception(), Exception("duplicate key value")])
def test_no_quoted_value_is_none(exc: BaseException | None) -> None:
    assert quoted_value(exc) is None
