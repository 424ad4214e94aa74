# The pre-fork test's app (fork_app.py, run by gunicorn) handles these requests at import; the test
# reads the list from here, so that importing it never runs that app in the test's own process.
PRELOAD_IDS = [f"preload-{i}" for i in range(5)]
