# The two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICE_PORT ?= 8787
PLATFORM_PORT ?= 8788
FLASK_PORT ?= 8789
DJANGO_PORT ?= 8790

.PHONY: run test bench faults lint install clean chromium docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) chromium

# The browser test drives Debian's Chromium (never a browser downloaded by playwright). Installed
# only when missing; needs root (CI runs as root); `apt-get update` first, tolerating its failure.
# Where it cannot be installed, the browser test says so and is skipped, except in CI (.ci/run sets
# CCAUDIT_TEST_REQUIRE_BROWSER), where it fails.
chromium:
	@test -x /usr/bin/chromium || { apt-get update || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| echo "chromium could not be installed: the browser test will be skipped (fail in CI)"; }

run: $(STAMP)
	$(BIN)/ccaudit demo --service-port $(SERVICE_PORT) --platform-port $(PLATFORM_PORT) \
		--flask-port $(FLASK_PORT) --django-port $(DJANGO_PORT)

test: $(STAMP) chromium
	$(BIN)/ruff check ccaudit middleware tests benchmarks
	$(BIN)/mypy ccaudit
	$(BIN)/python -m pytest

faults: $(STAMP)
	$(BIN)/python -m tests.faults.run

bench: $(STAMP)
	$(BIN)/python benchmarks/enrich.py
	$(BIN)/python benchmarks/consent.py
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/ingest.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check ccaudit middleware tests benchmarks
	$(BIN)/mypy ccaudit

# The documentation site from docs/ (MkDocs, Material theme); --strict fails on any warning. The
# variable silences the theme's notice about its own end of life (May 2027), not a warning about the site.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/docs

clean:
	rm -rf $(VENV) .ccaudit-data .pytest_cache .mypy_cache .ruff_cache
