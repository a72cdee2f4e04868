# Two commands: `make run` starts the gateway on embedded defaults; `make test` runs the suite.
# Both create .venv/ on first use (llama-cpp-python compiles once, ~4 min; pip caches the wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local,dev]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/switchyard serve $(ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/gateway_overhead.py

clean:
	rm -rf $(VENV) .switchyard .pytest_cache
