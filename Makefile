# crmsync: `make demo` runs the whole thing locally; `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/crmsync
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
PYTEST_ARGS ?=
# Test processes for the PostgreSQL run (pytest-xdist); the chaos tests share one of them.
TEST_PROCESSES ?= 2

.PHONY: install demo test test-postgres test-sqlite services browser clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo

# PostgreSQL and Redis must answer; Chromium drives the browser tests.
services:
	bash .ci/services.sh

test: install services
	$(MAKE) test-postgres
	$(MAKE) test-sqlite

test-postgres:
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -p tests.xdist_workers -n $(TEST_PROCESSES) --dist loadgroup $(PYTEST_ARGS)

# The embedded default: no DATABASE_URL, so SQLite; a quick subset proves it.
test-sqlite:
	env -u DATABASE_URL REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -m smoke $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var staticfiles artifacts
