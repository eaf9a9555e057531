# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test protos clean

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

test: $(VENV)/.test-deps
	$(BIN)/pytest

protos: $(VENV)/.test-deps
	$(BIN)/python scripts/gen_protos.py

clean:
	rm -rf $(VENV) wsg-data
