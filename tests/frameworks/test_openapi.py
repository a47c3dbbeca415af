"""The OpenAPI document crud_router produces: valid, documented, and no 500s under fuzzing."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from sqlalchemy.pool import NullPool

import sqlops
import sqlops.fastapi as sf

from .models import FILTERS, Author, AuthorIn, AuthorOut, AuthorPatch, Member, MemberIn, MemberOut


def make_app(db: sqlops.Database | None = None, pagination: str = "offset") -> FastAPI:
    app = FastAPI()
    sf.install_exception_handlers(app)
    options: dict[str, Any] = {"db": db, "pagination": pagination}
    app.include_router(
        sf.crud_router(
            Author,
            read=AuthorOut,
            create=AuthorIn,
            update=AuthorPatch,
            filters=FILTERS,
            order=["name", "age"],
            **options,
        )
    )
    app.include_router(sf.crud_router(Member, read=MemberOut, create=MemberIn, **options))
    return app


@pytest.mark.parametrize("pagination", ["offset", "cursor"])
def test_the_document_is_valid_openapi(pagination: str):
    document = make_app(pagination=pagination).openapi()
    validate(document)  # raises on an invalid document
    assert sorted(document["paths"]) == [
        "/fw_authors",
        "/fw_authors/{id}",
        "/fw_members",
        "/fw_members/{author_id}/{token}",
    ]


def test_list_parameters_are_typed_and_documented():
    listing = make_app().openapi()["paths"]["/fw_authors"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert sorted(params) == sorted([*FILTERS, "order_by", "page", "per_page"])
    assert params["age__gt"]["schema"]["anyOf"][0] == {"type": "integer"}
    assert params["age__in"]["schema"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert params["age__is_null"]["schema"]["anyOf"][0] == {"type": "boolean"}
    assert params["per_page"]["schema"] == {
        "type": "integer",
        "maximum": 100,
        "minimum": 1,
        "default": 20,
        "title": "Per Page",
    }
    assert {"400", "404", "409", "422", "503"} <= set(listing["responses"])
    cursor = make_app(pagination="cursor").openapi()["paths"]["/fw_authors"]["get"]
    assert {p["name"] for p in cursor["parameters"]} >= {"after", "limit"}


def test_import_sqlops_imports_no_web_framework():
    code = (
        "import sys, sqlops; sqlops.Database; sqlops.Repository; "
        "import sqlops.models, sqlops._crud, sqlops._httperrors, sqlops._params; "
        "print(sorted(m for m in ('fastapi', 'litestar', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("backend", "pagination"),
    [("sqlite", "offset"), ("postgresql", "cursor")],
    indirect=["backend"],
)
async def test_schemathesis_finds_no_server_error(url: Any, pagination: str):
    # Each schemathesis call runs the app on a loop of its own: no pooled connection
    # may outlive one, hence NullPool.
    db = sqlops.Database(url, engine_options={"poolclass": NullPool}, cursor_secret="fuzz")
    await db.create_all(Author.metadata)
    try:
        app = make_app(db, pagination)
        schema = schemathesis.openapi.from_dict(app.openapi())
        schema.app = app
        statuses = await asyncio.to_thread(_fuzz, schema, 8.0)
    finally:
        await db.drop_all(Author.metadata)
        await db.dispose()
    assert [s for s in statuses if s.startswith("5")] == []
    assert len(statuses) > 60  # the run did send requests, valid and invalid ones
    assert {s[0] for s in statuses} >= {"2", "4"}
    operations = {" ".join(s.split()[1:]) for s in statuses}
    assert len(operations) == 9  # every operation of both routers (5 + 4) was reached


def _fuzz(schema: Any, seconds: float) -> list[str]:
    """Send generated requests (valid and invalid) to every operation; their statuses.

    Each operation and mode gets an equal share of ``seconds``.
    """
    statuses: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    pairs = list(itertools.product(operations, modes))
    for operation, mode in pairs:
        _probe(operation, mode, time.monotonic() + seconds / len(pairs), statuses)()
    return statuses


def _probe(operation: Any, mode: Any, until: float, statuses: list[str]) -> Any:
    """A hypothesis test sending ``operation``'s generated requests until ``until``."""

    @settings(
        max_examples=10,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def probe(case: Any) -> None:
        if time.monotonic() < until:
            response = case.call()
            statuses.append(f"{response.status_code} {case.method} {operation.path}")

    return probe
