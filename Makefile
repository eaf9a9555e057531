# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Matrix Synapse for the tests that front a real homeserver, in its own venv: its many
# dependencies must never move the gateway's. The range is what the Synapse store was written
# against (gateway/stores/synapse/); psycopg2-binary is Synapse's PostgreSQL driver.
SYNAPSE_VENV ?= .venv-synapse
SYNAPSE_SPEC ?= matrix-synapse>=1.160,<1.170

.PHONY: demo test check protos clean synapse buf browser

# buf (proto lint and breaking-change check against main), from its npm package, pinned in
# tools/package.json and installed with `npm ci` (Node.js and npm are all it needs).
BUF := tools/node_modules/.bin/buf

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

# npm ci empties node_modules first: through a worktree's link to a shared install it would
# empty the shared one, so a linked install is left to the tree that owns it.
$(BUF): tools/package.json tools/package-lock.json
	if [ -L tools/node_modules ] && [ -x $@ ]; then \
	  echo "tools/node_modules is a link to a shared install: not reinstalled here" >&2; \
	else cd tools && npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

# What tests/test_protos.py runs, for use by hand (the breaking check starts once main has buf.yaml).
buf: $(BUF)
	$(BUF) lint
	if git cat-file -e main:buf.yaml 2>/dev/null; then $(BUF) breaking --against '.git#branch=main'; fi

# Style and structure first (seconds), then the suite: lint, format, types (mypy --strict on
# gateway/), the import-layer contract, and the tests (with buf lint and breaking, test_protos).
check: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The console's browser tests drive Debian's chromium through chromedriver, and its verifier's
# tests run in node: installed here when missing (as root, e.g. CI on a fresh machine); without
# root they are reported and those tests skip, except where WSG_REQUIRE_BROWSER is set.
BROWSER_PACKAGES ?= chromium chromium-driver nodejs

browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v node >/dev/null; then \
	  :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(BROWSER_PACKAGES) for the console's browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	else \
	  echo "not root: install $(BROWSER_PACKAGES) for the console's browser tests"; \
	fi

test: check browser $(SYNAPSE_VENV)/.installed $(BUF)
	$(BIN)/pytest -n auto --dist loadfile

protos: $(VENV)/.test-deps
	$(BIN)/python scripts/gen_protos.py

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) wsg-data tools/node_modules
