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
# llama.cpp is compiled for the portable x86-64-v3 baseline (AVX2, FMA, F16C), not for the build
# machine's CPU: a native build on a CPU with AMX (Sapphire Rapids) crashes in llama.cpp's AMX
# kernels (SIGSEGV in ggml_backend_amx_mul_mat), and a native build's numerics differ by CPU. It is
# built first and outside pip's wheel cache, which would hand back a native wheel built earlier;
# the locked install then finds it present.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	awk '/^llama-cpp-python==/{p=1} p{print} p && !/\\$$/{exit}' requirements.lock > $(VENV)/llama.req
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q --no-cache-dir --no-deps --require-hashes -r $(VENV)/llama.req
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
