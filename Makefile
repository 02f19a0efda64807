# `make run` and `make test` set everything up first (idempotent, quick when done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: run test tensorboard setup data lint clean

run: setup data
	$(BIN)/python experiments/run.py

# Test files spread over this many processes (a file's tests stay together, so its
# fixtures run once); TEST_WORKERS=0 runs them all in this one.
TEST_WORKERS ?= 2
test: setup data
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# What `make run` wrote; `make tensorboard LOGDIR=runs/capacity` opens one experiment. It
# prints the address to open: its run filter ticks the study's figures, summary and mean
# curves (TensorBoard ticks nothing in a folder of more than 40 runs). Loopback only.
LOGDIR ?= runs
PORT ?= 6006
tensorboard: setup
	$(BIN)/python -m experiments.engine.serve --logdir $(LOGDIR) --port $(PORT)

lint: setup
	$(BIN)/ruff check .

setup: $(VENV)/.installed

# Reinstall only when the packaging changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Debian's copy of Fashion-MNIST when we may install it; otherwise the first run
# downloads it with torchvision.
data:
	@if [ -f $(FASHION_MNIST) ] || [ -f data/FashionMNIST/raw/train-images-idx3-ubyte ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -q dataset-fashion-mnist || \
		 (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null \
		|| echo "note: could not install dataset-fashion-mnist; the first run will download Fashion-MNIST"; \
	else echo "note: Fashion-MNIST not installed; the first run will download it"; fi

clean:
	rm -rf $(VENV) runs
