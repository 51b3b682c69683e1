# nablanet: `make demo` trains the book's network on Fashion-MNIST; `make test` runs the tests.
comma := ,
# Each target creates (or reuses) a virtualenv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test,data,plot,fast
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
FASHION_DEB := /usr/share/datasets/fashion-mnist

.PHONY: demo test lint bench torch clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package when we may install
# it; otherwise nablanet finds it in $$NABLANET_DATA or the cache, or downloads it.
fashion-data:
	@if [ ! -d $(FASHION_DEB) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	fi

demo: $(STAMP) fashion-data
	$(VENV)/bin/nablanet train fashion-mnist --sizes 784,30,10 --epochs 30 --batch-size 10 --eta 3.0 --seed 1

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# PyTorch CPU as an optional test oracle and benchmark peer.
torch: $(STAMP)
	$(PY) -m pip install -q torch==2.13.0

clean:
	rm -rf $(VENV) .venv-* build *.egg-info .pytest_cache .ruff_cache
