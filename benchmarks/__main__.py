"""``python -m benchmarks``: see :func:`benchmarks.cli.main`."""

from benchmarks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
