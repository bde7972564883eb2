# The two Quick start commands are `make demo` and `make test`; everything else is a helper.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# Compiled before each run: the environment may set PYTHONDONTWRITEBYTECODE, and every `realise` process
# would compile them again.
PACKAGES := schemas foundation warehouse connectors ingestion reporting synthetic simulator bench flows realise

.PHONY: demo test install browser lint lock clean

demo: $(VENV)/.installed
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/realise demo

test: $(VENV)/.installed browser
	$(BIN)/ruff check --no-cache .
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# The report test renders in a real headless Chromium (Debian's package; browser downloads are not possible here).
browser:
	@command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

lock:
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 --no-header --no-annotate -o requirements.lock

clean:
	rm -rf $(VENV) .realise
