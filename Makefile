# The one entry point for everything; `make install` is idempotent and fast when nothing changed.
VENV := .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
# Test processes (pytest-xdist), one per core here; each starts its own servers, and a test file
# stays in one process so its module fixtures (a whole stack, a cluster) start once. 0: no xdist.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

.PHONY: install lock run test test-unit test-integration test-e2e test-browser chaos lint typecheck bench schemas screenshot

install:
	bash scripts/install.sh

# Regenerates requirements.lock (uv, with hashes) after a dependency changed in a pyproject.toml
# or requirements-dev.in; LOCK_ARGS go to `uv pip compile` (e.g. --upgrade-package=aiohttp).
lock:
	bash scripts/install.sh lock $(LOCK_ARGS)

run: install
	$(PYTHON) scripts/devstack.py

test: install
	$(VENV)/bin/pytest -q $(XDIST) $(PYTEST_ARGS)

# One level of the pyramid each; the root conftest.py marks every test by its directory.
test-unit: install
	$(VENV)/bin/pytest -q -m unit $(XDIST) $(PYTEST_ARGS)

test-integration: install
	$(VENV)/bin/pytest -q -m integration $(XDIST) $(PYTEST_ARGS)

test-e2e: install
	$(VENV)/bin/pytest -q -m e2e $(XDIST) $(PYTEST_ARGS)

test-browser: install
	$(VENV)/bin/pytest -q -m browser $(XDIST) $(PYTEST_ARGS)

# Kills boards, projector, auth, FerretDB and Redis at random under load for CHAOS_SECONDS,
# then checks the invariants (docs/chaos.md); the JSON report on stdout, exit 1 if one failed.
CHAOS_SECONDS ?= 600
CHAOS_SEED ?= 12
chaos:
	@bash scripts/install.sh >&2
	@$(PYTHON) -m cardstream_testing.chaos --seconds $(CHAOS_SECONDS) --seed $(CHAOS_SEED)

# lint, typecheck and schemas need the venv too, so a fresh clone can run any target first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	node_modules/.bin/eslint

typecheck: install
	$(VENV)/bin/mypy contracts/src libs/runtime/src libs/devstack/src libs/testing/src services/boards/src services/projector/src services/auth/src scripts bench tools

# install's progress goes to stderr, so that `make bench > run.json` is exactly the JSON document.
bench:
	@bash scripts/install.sh >&2
	@$(PYTHON) -m bench

# The README's picture, docs/images/board.png, from the running product (tools/screenshot.py).
screenshot: install
	$(PYTHON) tools/screenshot.py

schemas: install
	$(PYTHON) -m contracts.schema_gen
	$(PYTHON) -m contracts.openapi
