"""The peer benchmark: sqlops beside raw drivers, SQLAlchemy Core/ORM, advanced-alchemy, fastcrud.

On PostgreSQL (raw asyncpg as the limit), SQLite (aiosqlite) and MariaDB (asyncmy).

Run it from the repository root::

    python -m benchmarks                      # PostgreSQL, 5 rounds
    python -m benchmarks --backend all --json out.json --chart docs/img/benchmarks.png
    python -m benchmarks --backend mysql --op tx-get --op tx-update --op stream
    python -m benchmarks scale                # 1,000,000 rows: memory and deep pages
    python -m benchmarks profile --op get     # where sqlops spends its time, vs Core

Every run creates its own throwaway database and drops it afterwards; ``docs/benchmarks.md``
explains the method and holds the latest figures.
"""
