# nablanet: `make demo` trains the book's network on Fashion-MNIST; `make test` runs the tests.
# Each target creates (or reuses) a virtualenv and installs what it needs: the demo only
# the core and the compiled kernels, the tests every extra (EXTRAS=test for the core only).
PYTHON ?= python3
VENV ?= .venv
DEMO_EXTRAS ?= fast
EXTRAS ?= test,data,plot,fast,profile,sklearn,onnx,tune,tensorboard
DOCS_EXTRAS ?= docs
PY := $(VENV)/bin/python
comma := ,
stamp = $(VENV)/.installed-$(subst $(comma),-,$(1))
FASHION_DEB := /usr/share/datasets/fashion-mnist

.PHONY: demo test fuzz-ci fuzz lint typecheck docs bench torch fashion-data clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[$(subst -,$(comma),$*)]"
	touch $@

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package when we may install
# it; otherwise nablanet finds it in $$NABLANET_DATA or the cache, or downloads it.
fashion-data:
	@if [ ! -d $(FASHION_DEB) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	fi

demo: $(call stamp,$(DEMO_EXTRAS)) fashion-data
	$(VENV)/bin/nablanet train fashion-mnist --sizes 784,30,10 --epochs 30 --batch-size 10 --eta 3.0 --seed 1

test: $(call stamp,$(EXTRAS))
	$(PY) -m pytest -q

# Fuzz suite (tests/fuzz, marker `fuzz`, left out of `make test`): mutated IDX, .npy,
# sequence-CSV and model files, each run in a worker capped at 2 GiB and 10 s a case.
# fuzz-ci: the same 1000 cases per reader every run (about a minute); CI runs it.
# fuzz: for releases, FUZZ_EXAMPLES random cases per reader (about 10 minutes) from
# FUZZ_SEED (a new one each run unless given; printed, to replay a failure).
FUZZ_EXAMPLES ?= 12000
fuzz-ci: $(call stamp,$(EXTRAS))
	$(PY) -m pytest -q -m fuzz tests/fuzz

fuzz: $(call stamp,$(EXTRAS))
	NABLANET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) NABLANET_FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
		$(PY) -m pytest -q -m fuzz tests/fuzz

lint: $(call stamp,$(EXTRAS))
	$(VENV)/bin/ruff check src tests benchmarks

# Static types: mypy with the configuration in pyproject.toml [tool.mypy].
typecheck: $(call stamp,$(EXTRAS))
	$(VENV)/bin/mypy src/nablanet

# The HTML site (Sphinx + numpydoc + sphinx-click + MyST: the guide in docs/guide, the API and
# CLI references) in docs/_build/html; warnings are errors. It needs only the docs extra
# (optional integrations are mocked for autodoc): CI builds it with VENV=.venv-docs.
docs: $(call stamp,$(DOCS_EXTRAS))
	rm -rf docs/api
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

# PyTorch CPU: optional test oracle and benchmark peer (the local CPU wheel).
torch: $(call stamp,$(EXTRAS))
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0

bench: torch
	$(PY) benchmarks/mlp_epoch.py
	$(PY) benchmarks/rnn_epoch.py
	$(PY) benchmarks/recurrent_cells.py

clean:
	rm -rf $(VENV) .venv-* build src/*.egg-info .pytest_cache .ruff_cache docs/_build docs/api
