# The two commands of the README: `make up` (a hub with demo offices) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/careplan up $(UP_ARGS)

# Two pytest workers (pytest-xdist): tests spend much of their time waiting on hubs, browsers and
# subprocesses, so two share the 2 CPUs of CI well. A file's tests stay together and in order on one
# worker (--dist loadfile): some share a module's hub and follow what the one before did there.
# PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .careplan-sim
