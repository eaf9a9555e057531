# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Matrix Synapse for the tests that front a real homeserver, in its own venv: its many
# dependencies must never move the gateway's. The range is what the Synapse store was written
# against (gateway/stores/synapse_sql.py); psycopg2-binary is Synapse's PostgreSQL driver.
SYNAPSE_VENV ?= .venv-synapse
SYNAPSE_SPEC ?= matrix-synapse>=1.160,<1.170

.PHONY: demo test protos clean synapse

$(BIN)/wsg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(BIN)/wsg

$(VENV)/.test-deps: $(BIN)/wsg
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/wsg
	$(BIN)/wsg demo

$(SYNAPSE_VENV)/.installed:
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/pip install --quiet --upgrade pip
	$(SYNAPSE_VENV)/bin/pip install --quiet '$(SYNAPSE_SPEC)' 'psycopg2-binary>=2.9'
	touch $@

synapse: $(SYNAPSE_VENV)/.installed

test: $(VENV)/.test-deps $(SYNAPSE_VENV)/.installed
	$(BIN)/pytest

protos: $(VENV)/.test-deps
	$(BIN)/python scripts/gen_protos.py

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) wsg-data
