"""Measure the audit on real code: recall by mutation, and a precision report for triage.

    python -m benchmarks.audit_recall CORPUS [--project NAME ...] [--misses]
    python -m benchmarks.audit_recall.precision CORPUS [--triage FILE]

``CORPUS`` holds one directory per project (fetched read-only; never committed).
"""
