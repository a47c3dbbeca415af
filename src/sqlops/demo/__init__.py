"""``sqlops demo``: a guided tour of sqlops in the terminal (needs ``sqlops[cli]``).

::

    import asyncio
    from rich.console import Console
    from sqlops.demo import run_demo

    asyncio.run(run_demo("sqlite+aiosqlite:///demo.db", rows=10_000, console=Console()))
"""

from ._tour import run_demo

__all__ = ["run_demo"]
