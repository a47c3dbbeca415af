"""The peer benchmark: sqlops beside raw drivers, SQLAlchemy Core/ORM, advanced-alchemy, fastcrud.

Run it from the repository root::

    python -m benchmarks                      # PostgreSQL, 5 rounds
    python -m benchmarks --backend all --json out.json --chart docs/img/benchmarks.png
    python -m benchmarks scale                # 1,000,000 rows: memory and deep pages
    python -m benchmarks profile --op get     # where sqlops spends its time, vs Core

Every run creates its own throwaway database and drops it afterwards; ``docs/benchmarks.md``
explains the method and holds the latest figures.
"""
