# Two commands: `make run` starts the gateway on embedded defaults; `make test` runs the suite.
# Both create .venv/ on first use, from requirements.lock (llama-cpp-python compiles once, ~4 min; pip caches the wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test lint bench clean

# Every dependency (the base ones, the local and dev extras, the build backend) installs from
# requirements.lock: exact versions with sha256 hashes, so nothing unvetted (or newer) comes in.
# The project itself then installs without resolving or downloading anything.
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e '.[local,dev]'
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
