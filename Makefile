# utrbert: one make target per README command.
#   make book                 install .venv if needed, render the executed chapters in book/ into _build/html
#   make test                 unit tests + doctests, smoke runs of every chapter, warnings-as-errors book build, site check
#   make chapters PROFILE=cpu rerun the chapters whose code, profile or parameters changed (FORCE=1: all) on real
#                             data (UTRBERT_DATA) into book/, then rebuild the book
#   make gpu-check [DRY=1]    one-shot GPU check into $OUT (default scratch/gpu-check); DRY=1: CPU, tiny settings
#   make gpu-smoke            the smoke run with the gpu profile's options (bf16 autocast, GPU batches) on the CPU
#   make site-check           load every rendered page in headless Chromium: no broken image/link, machine path, traceback
# GNU make. Every recipe runs in bash with -e -o pipefail, so any failing command fails the target.

SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := book
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
SMOKE_OUT := scratch/smoke
GPU_SMOKE_OUT := scratch/gpu-smoke

# The install stamp is keyed on the content of requirements.txt and pyproject.toml: pip runs again only when
# one of them changes (or the venv is new), not whenever a checkout touches their modification times.
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.utrbert-installed-$(REQ_HASH)

# Render book/ (pre-executed notebooks, execute_notebooks: off) from clean; -W: warnings are errors.
JB_BUILD := rm -rf _build && $(BIN)/jupyter-book build -W -n --keep-going .

.PHONY: book test chapters clean help gpu-check gpu-smoke site-check

help:
	@sed -n '2,8p' Makefile

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.utrbert-installed-*
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

book: $(STAMP)
	$(JB_BUILD)
	@echo "book: _build/html/index.html"

# The rendered site as a browser sees it (scripts/check_site.py; without Chromium it checks the HTML files and says so).
site-check: $(STAMP)
	test -f _build/html/index.html || { $(JB_BUILD); }
	$(BIN)/python scripts/check_site.py _build/html

test: $(STAMP)
	$(BIN)/python -m pytest
	rm -rf $(SMOKE_OUT)
	$(BIN)/python -m utrbert book --profile smoke --out $(SMOKE_OUT)
	$(MAKE) --no-print-directory gpu-smoke
	$(JB_BUILD)
	$(BIN)/python scripts/check_site.py _build/html

# The GPU code path (bf16 autocast, GPU batch sizes) on the CPU: needs native bf16 (AVX512-BF16 or AMX).
gpu-smoke: $(STAMP)
	@if $(BIN)/python -c "import sys; from utrbert.models.pretraining import cpu_supports_bf16; sys.exit(not cpu_supports_bf16())"; then \
		rm -rf $(GPU_SMOKE_OUT); \
		$(BIN)/python -m utrbert book --profile gpu-smoke --out $(GPU_SMOKE_OUT); \
	else \
		echo "gpu-smoke: skipped, this CPU has no native bf16 (AVX512-BF16 or AMX) for bf16 autocast"; \
	fi

chapters: $(STAMP)
	@test -n "$$UTRBERT_DATA" || { echo "make chapters: set UTRBERT_DATA to the data directory (layout of ../shared/data)" >&2; exit 1; }
	$(BIN)/python -m utrbert book --profile $(PROFILE) --out book $(if $(FORCE),,--changed-only)
	$(JB_BUILD)

# No install step: on a lent GPU machine pip cannot reach an index, so the check runs on the Python that is there
# (the project venv when one exists). Results in $OUT (default scratch/gpu-check); see scripts/gpu_check.py.
GPU_CHECK_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

gpu-check:
	$(GPU_CHECK_PYTHON) scripts/gpu_check.py $(if $(DRY),--dry-run)

clean:
	rm -rf _build scratch
