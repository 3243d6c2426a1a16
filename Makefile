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

.PHONY: install bench transfer leaderboards test lint check benchmark mutation planted clean

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

clean:
	rm -rf $(VENV) results .pytest_cache mutants mutants.log
