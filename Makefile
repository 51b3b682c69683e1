# nablanet: `make demo` trains the book's network on Fashion-MNIST; `make test` runs the tests.
# Each target creates (or reuses) a virtualenv and installs what it needs: the demo only
# the core and the compiled kernels, the tests every extra (EXTRAS=test for the core only).
PYTHON ?= python3
VENV ?= .venv
DEMO_EXTRAS ?= fast
EXTRAS ?= test,data,plot,fast,profile,tensorboard
PY := $(VENV)/bin/python
comma := ,
stamp = $(VENV)/.installed-$(subst $(comma),-,$(1))
FASHION_DEB := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint bench torch fashion-data clean

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

lint: $(call stamp,$(EXTRAS))
	$(VENV)/bin/ruff check src tests benchmarks

# PyTorch CPU: optional test oracle and benchmark peer (the local CPU wheel).
torch: $(call stamp,$(EXTRAS))
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0

bench: torch
	$(PY) benchmarks/mlp_epoch.py
	$(PY) benchmarks/rnn_epoch.py
	$(PY) benchmarks/recurrent_cells.py

clean:
	rm -rf $(VENV) .venv-* build src/*.egg-info .pytest_cache .ruff_cache
