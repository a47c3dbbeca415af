"""What each operation does, at what size, and the rows it must produce.

All implementations get the same inputs (plain dicts and ints) and must produce the same
rows; converting the inputs to what a library's API wants is part of its timed work.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Row = tuple[int, str, str]

OPERATIONS = ("insert", "get", "page", "upsert", "tx-get", "tx-update", "stream")
WRITES = ("insert", "upsert", "tx-update")  # they change the table: re-seed after them
LIKE_PATTERN = "n00%"


@dataclass(frozen=True)
class Sizes:
    """How much work one timed run of each operation does."""

    rows: int = 20_000  # rows inserted; also the table size for get and page
    gets: int = 3_000  # primary-key lookups, one at a time
    pages: int = 300  # page+count calls
    per_page: int = 50
    upserts: int = 5_000  # rows upserted, half of them new
    tx_gets: int = 3_000  # primary-key lookups, each in its own transaction
    tx_updates: int = 2_000  # get + update of one column, each in its own transaction
    batch: int = 1_000  # rows per batch when streaming the whole (seeded) table

    def items(self, op: str) -> int:
        """The number of items ``op`` handles: µs/item divides by this."""
        return {
            "insert": self.rows,
            "get": self.gets,
            "page": self.pages,
            "upsert": self.upserts,
            "tx-get": self.tx_gets,
            "tx-update": self.tx_updates,
            "stream": self.rows,
        }[op]


FULL = Sizes()
QUICK = Sizes(
    rows=4_000, gets=600, pages=60, per_page=50, upserts=1_000, tx_gets=600, tx_updates=400
)
# Tiny: a smoke test of correctness (commits cost a disk flush each on the servers);
# batches smaller than the table, so streaming fetches more than one.
TINY = Sizes(
    rows=300, gets=25, pages=6, per_page=10, upserts=60, tx_gets=10, tx_updates=6, batch=64
)


def email(i: int) -> str:
    return f"user{i:07d}@example.com"


def name(i: int) -> str:
    """One row in ten matches ``LIKE 'n00%'``: enough to page through, not the whole table."""
    return f"n{i % 10:02d}-{i:07d}"


def seed_row(i: int) -> Row:
    return (i, email(i), name(i))


def seed_rows(count: int) -> list[Row]:
    return [seed_row(i) for i in range(1, count + 1)]


def insert_input(sizes: Sizes) -> list[dict[str, object]]:
    """The rows inserted into an empty table."""
    return [{"id": i, "email": email(i), "name": name(i)} for i in range(1, sizes.rows + 1)]


def upsert_seed(sizes: Sizes) -> list[Row]:
    """The table before the upsert: the first half of the upserted emails exist."""
    return seed_rows(sizes.upserts // 2)


def upsert_expected(sizes: Sizes) -> list[Row]:
    """The table after the upsert: every row renamed, the second half new."""
    return [(i, email(i), f"renamed-{i:07d}") for i in range(1, sizes.upserts + 1)]


def upsert_input(sizes: Sizes) -> list[dict[str, object]]:
    """Rows upserted on ``email``: half update an existing row's name, half are new."""
    return [{"id": i, "email": e, "name": n} for i, e, n in upsert_expected(sizes)]


def get_ids(sizes: Sizes, seed: int = 7, count: int | None = None) -> list[int]:
    """Distinct ids in random order, so no identity map or cache can answer twice."""
    return random.Random(seed).sample(range(1, sizes.rows + 1), count or sizes.gets)


def tx_update_ids(sizes: Sizes, seed: int = 11) -> list[int]:
    """Distinct ids to update, in random order (a different sample from :func:`get_ids`)."""
    return random.Random(seed).sample(range(1, sizes.rows + 1), sizes.tx_updates)


def updated_name(i: int) -> str:
    """The name ``tx-update`` gives row ``i``."""
    return f"updated-{i:07d}"


def tx_update_expected(sizes: Sizes) -> list[Row]:
    """The table after ``tx-update``: the seeded rows, those updated renamed."""
    changed = set(tx_update_ids(sizes))
    return [(i, e, updated_name(i) if i in changed else n) for i, e, n in seed_rows(sizes.rows)]


def matching_ids(sizes: Sizes) -> list[int]:
    return [i for i in range(1, sizes.rows + 1) if name(i).startswith(LIKE_PATTERN[:-1])]


def page_numbers(sizes: Sizes) -> list[int]:
    """Which page each call asks for: cycling through every page of the matches."""
    pages = max(1, math.ceil(len(matching_ids(sizes)) / sizes.per_page))
    return [call % pages + 1 for call in range(sizes.pages)]


def page_expected(sizes: Sizes) -> list[tuple[list[Row], int]]:
    matches = matching_ids(sizes)
    out = []
    for number in page_numbers(sizes):
        start = (number - 1) * sizes.per_page
        out.append(([seed_row(i) for i in matches[start : start + sizes.per_page]], len(matches)))
    return out
