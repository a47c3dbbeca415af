"""The audit rules, one module each, in code order.

Adding a rule: write ``rules/<name>.py`` with a ``RULE``, add it below, add
``tests/audit/test_<name>.py`` with bad and near-miss good snippets, and document
it in ``docs/audit.md``.
"""

from __future__ import annotations

from sqlops.audit._finding import Rule
from sqlops.audit.rules import (
    awaited_sync_method,
    blocking_call,
    commit_in_loop,
    count_by_len,
    engine_per_call,
    expire_on_commit,
    integrity_error_rollback,
    joinedload_unique,
    lazy_load,
    legacy_query,
    raw_sql_string,
    shared_session,
    sql_injection,
    unawaited_coroutine,
)

RULES: tuple[Rule, ...] = (
    unawaited_coroutine.RULE,
    awaited_sync_method.RULE,
    legacy_query.RULE,
    raw_sql_string.RULE,
    sql_injection.RULE,
    expire_on_commit.RULE,
    commit_in_loop.RULE,
    shared_session.RULE,
    integrity_error_rollback.RULE,
    joinedload_unique.RULE,
    engine_per_call.RULE,
    count_by_len.RULE,
    blocking_call.RULE,
    lazy_load.RULE,
)

__all__ = ["RULES"]
