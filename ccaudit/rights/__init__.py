"""Retention by last use and data-subject rights (R9, R10): export, erasure, restriction,
objection, rectification, request tracking, legal holds and the retention job.

Every operation walks ``ccaudit.store.tables.PERSONAL_DATA_TABLES`` (``catalog.py``): a table that
declares its subject columns there is covered without a change here. See docs/rights.md.
"""
