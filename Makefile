# Two commands: `make run` serves the API on SQLite; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
API_REQS := requirements/time_tracker_api/prod.txt requirements/time_tracker_api/dev.txt
EVENTS_REQS := requirements/time_tracker_events/prod.txt requirements/time_tracker_events/dev.txt

.PHONY: run test install install-test services clean help bench functions-build fuzz soak

help:
	@echo "make run    - set up a virtualenv, migrate the SQLite store, serve http://$(HOST):$(PORT)/ and the events runner"
	@echo "make test   - install what the tests need (incl. PostgreSQL) and run them with coverage"

$(VENV)/.api-installed: $(API_REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/time_tracker_api/dev.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.api-installed $(EVENTS_REQS)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/time_tracker_events/dev.txt
	touch $@

# A development signing secret, generated once and kept (git-ignored).
.env:
	@echo "JWT_SECRET=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
	@echo "created .env with a development JWT_SECRET"

install: $(VENV)/.api-installed

# The API and the events runner in one process (GET /events fills by itself); Ctrl-C stops both.
run: $(VENV)/.api-installed .env
	$(PY) cli.py run --host $(HOST) --port $(PORT)

# PostgreSQL server binaries and Node.js for the integration tests (from Debian when missing).
services:
	@bash tests/tools/install-services.sh

# The Cosmos DB protocol server (npm, pinned in package-lock.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install-test: $(VENV)/.test-installed services node_modules/.installed

# mypy --strict first (pyproject.toml says what it checks): a type error fails the run in seconds.
test: install-test
	$(VENV)/bin/mypy
	$(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(VENV)/bin/coverage report --skip-covered --skip-empty | tail -n 25

clean:
	rm -rf $(VENV) .coverage htmlcov node_modules

# Benchmarks (not tests): `make bench ENGINES=sqlite,postgresql,cosmos`; BENCH_ARGS="--markdown"
# prints only the README's tables, "--passes 3 --duration 2" a shorter run (see bench/run.py -h).
ENGINES ?= sqlite
bench: install-test
	$(PY) bench/run.py --engines $(ENGINES) $(BENCH_ARGS)

# The Azure Functions app as `func azure functionapp publish <app>` wants it: build/functions.
functions-build:
	rm -rf build/functions && mkdir -p build/functions
	cp time_tracker_events/function_app.py time_tracker_events/host.json build/functions/
	cp requirements/time_tracker_events/prod.txt build/functions/requirements.txt
	cp -r commons time_tracker_events build/functions/
	find build/functions -name __pycache__ -prune -exec rm -rf {} +
	@echo "cd build/functions && func azure functionapp publish <app-name> --python"

# Long fuzzing (the test suite runs short ones): FUZZ_EXAMPLES random examples of every
# operation, then FUZZ_SECONDS of stateful scenarios (chains of linked calls, every check); its
# figures (calls, operations covered, failures by check) are printed and kept in FUZZ_REPORT.
FUZZ_EXAMPLES ?= 500
FUZZ_SECONDS ?= 600
FUZZ_REPORT ?= build/fuzz-report.txt
fuzz: install-test
	mkdir -p $(dir $(FUZZ_REPORT)) && rm -f $(FUZZ_REPORT)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_REPORT=$(FUZZ_REPORT) \
		$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/fuzz; status=$$?; \
		cat $(FUZZ_REPORT) 2>/dev/null; exit $$status

# Mixed traffic from many simulated users, then a reconciliation (not part of `make test`).
SOAK_ARGS ?= --engine sqlite --users 30 --seconds 30
soak: install-test
	$(PY) bench/soak.py $(SOAK_ARGS)
