"""The sample user project's conftest.py: hands the kit its schema."""

from __future__ import annotations

import pytest
from sqlalchemy import MetaData

from models import Base


@pytest.fixture(scope="session")
def sqlops_metadata() -> MetaData:
    return Base.metadata


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"  # SQLAlchemy's asyncio extension runs on asyncio only
