"""A ClickHouse-HTTP-compatible test server backed by the embedded engine, and helpers to run it.

``server`` is the server (``python -m tests.chhttp.server --data DIR --port PORT``); ``fixtures``
starts it as a child process, kills and restarts it, and offers pytest fixtures for other tests.
"""
