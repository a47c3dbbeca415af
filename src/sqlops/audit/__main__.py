"""Run ``python -m sqlops.audit PATH...``."""

from sqlops.audit._cli import main

raise SystemExit(main())
