"""sqlops.sync — the same data layer for ``def`` code: blocking twins of Database and Repository.

::

    from sqlops import sync

    with sync.Database("postgresql://app@localhost/app") as db:
        users = sync.Repository(User, db)
        user = users.create(email="ada@example.com")
        page = users.page(name__ilike="a%", page=2, per_page=20)

There is one implementation: the sync API runs the async API's own coroutines over a
blocking driver (psycopg 3, PyMySQL, sqlite3), where nothing ever waits for a loop.
Errors, filters, pages and cursors are the same objects as in the async API.
"""

from sqlops._url import AsyncDriverError

from ._database import Database
from ._repository import Repository

__all__ = ["AsyncDriverError", "Database", "Repository"]
