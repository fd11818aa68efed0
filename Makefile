# Wavespace: one-command setup, training, tests and benchmarks.
# `make train` and `make test` start from a fresh clone: they create .venv and install what is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# pytest-xdist workers: each test runs single-threaded, so one worker per core.
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install train test test-all lint format bench prepare notebook clean

help:  ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "%-20s %s\n", $$1, $$2 }'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv with torch pinned by constraints.txt and wavespace (editable) + dev tools

train: install  ## the main job: python -m wavespace.train $(ARGS) (default: synthetic polyphony, CPU, a few minutes)
	$(PY) -m wavespace.train $(ARGS)

# FluidSynth (for data=rendered tests) is installed when possible; without it those tests skip
# with a reason instead of failing the whole suite on machines where apt is not available.
test: install  ## the test suite as CI runs it (fast tests; slow ones are covered by faster ones)
	@$(MAKE) --no-print-directory data-deps || echo "note: FluidSynth not installed: data=rendered tests will be skipped"
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) $(ARGS)

test-all: install  ## every test, slow ones included
	@$(MAKE) --no-print-directory data-deps || echo "note: FluidSynth not installed: data=rendered tests will be skipped"
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) $(ARGS)

lint: install  ## ruff
	$(VENV)/bin/ruff check .

format: install  ## ruff format + import sorting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install  ## benchmarks under bench/ (each prints ratios against the obvious alternative)
	for b in bench/*.py; do case $$b in bench/transcription_quality.py|bench/autoencoders.py|bench/harmonic_salience.py|bench/memory_scale.py) continue;; esac; \
		echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "(transcription quality against basic-pitch: make bench-transcription, ~45 min)"
	@echo "(autoencoders, study 1: make bench-autoencoders, ~1 h)"
	@echo "(study 2, harmonic salience vs baselines: make bench-harmonic, hours on 2 CPU cores; ARGS=--quick smoke)"
	@echo "(peak memory and dataset-size scaling: make bench-memory, ~15 min)"

prepare: install  ## precompute a feature cache: make prepare ARGS="data=maestro features=cqt"
	$(PY) -m wavespace.prepare $(ARGS)

notebook: install  ## open the notebooks (installs the notebooks extra, JupyterLab, into .venv on first use)
	$(PY) -m pip install -q -c constraints.txt -e ".[notebooks]"
	$(VENV)/bin/jupyter lab notebooks/

clean:  ## remove caches and outputs (keeps .venv and data/)
	rm -rf outputs .pytest_cache .ruff_cache

# >>> cloud
# Docker image for Runpod pods, W&B sweeps, pod housekeeping (see docs/cloud.md).
CLOUD_PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python)
IMAGE ?= ghcr.io/wavespace/wavespace
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
SWEEP ?= lr_synth
WANDB_PROJECT ?= wavespace
AGENTS ?= 2

.PHONY: docker-build docker-push docker-lint sweep sweep-agents sweep-agent-local cloud-pods cloud-cleanup test-cloud

docker-build:  ## build the pod image (needs a Docker engine)
	docker build -f docker/Dockerfile -t $(IMAGE):$(TAG) -t $(IMAGE):latest .

docker-push: docker-build  ## push the pod image
	docker push $(IMAGE):$(TAG)
	docker push $(IMAGE):latest

docker-lint:  ## lint the Dockerfile without a Docker engine (hadolint if installed)
	$(CLOUD_PYTHON) -m pytest tests/cloud/test_cloud_docker.py -q

sweep:  ## create a W&B sweep from conf/sweep/$(SWEEP).yaml; prints its ENTITY/PROJECT/ID
	wandb sweep --project $(WANDB_PROJECT) conf/sweep/$(SWEEP).yaml

sweep-agents:  ## start $(AGENTS) Runpod pods running `wandb agent $(SWEEP_ID)`
	@test -n "$(SWEEP_ID)" || (echo "set SWEEP_ID=entity/project/id (printed by make sweep)"; exit 2)
	$(CLOUD_PYTHON) -m wavespace.cloud agents $(SWEEP_ID) --count $(AGENTS)

sweep-agent-local:  ## run one W&B agent on this machine
	@test -n "$(SWEEP_ID)" || (echo "set SWEEP_ID=entity/project/id (printed by make sweep)"; exit 2)
	$(CLOUD_PYTHON) -m wavespace.cloud agents $(SWEEP_ID) --local

cloud-pods:  ## list live wavespace pods (SWEEP_ID=<sweep id> to filter)
	$(CLOUD_PYTHON) -m wavespace.cloud pods $(if $(SWEEP_ID),--sweep $(SWEEP_ID))

cloud-cleanup:  ## terminate the pods of a launcher sweep: make cloud-cleanup SWEEP_ID=<sweep id>
	@test -n "$(SWEEP_ID)" || (echo "set SWEEP_ID=<sweep id> (see the launcher's table)"; exit 2)
	$(CLOUD_PYTHON) -m wavespace.cloud cleanup --sweep $(SWEEP_ID)

test-cloud:  ## cloud and analysis tests (fake Runpod API, no network)
	OMP_NUM_THREADS=1 $(CLOUD_PYTHON) -m pytest tests/cloud tests/analyze -q
# <<< cloud

# >>> data
# Datasets and the feature cache (see src/wavespace/data/). `make prepare` (above) fills the cache.
SOUNDFONT ?= /usr/share/sounds/sf2/FluidR3_GM.sf2
DATA_PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
APT_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: data-deps test-data bench-data heldout-soundfonts solos-soundfonts bench-transcription bench-autoencoders bench-harmonic
BP_VENV ?= .venv-basic-pitch

data-deps:  ## FluidSynth + the GM SoundFont for data=rendered (apt; idempotent, non-interactive)
	@if command -v fluidsynth >/dev/null 2>&1 && [ -f "$(SOUNDFONT)" ]; then \
		echo "fluidsynth and $(SOUNDFONT) already installed"; \
	else \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			fluidsynth fluid-soundfont-gm && \
		command -v fluidsynth && ls -l "$(SOUNDFONT)"; \
	fi

test-data:  ## dataset, cache and prepare tests (fixture datasets written at test time)
	OMP_NUM_THREADS=1 $(DATA_PYTHON) -m pytest tests/data -q

bench-data:  ## cached memory-mapped crops vs decode + resample + extract per sample
	OMP_NUM_THREADS=1 $(DATA_PYTHON) bench/feature_loading.py

.PHONY: bench-synth
bench-synth: install  ## synthetic generator alone, numpy per clip vs batched torch, against the default model's examples/s (ARGS="--device cuda --batch-size 64")
	OMP_NUM_THREADS=1 $(PY) bench/synth_generator.py $(ARGS)

heldout-soundfonts:  ## the two SoundFonts the transcription bench plays and training never hears
	@if [ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] && [ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ]; then \
		echo "held-out SoundFonts already installed"; \
	else \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			timgm6mb-soundfont musescore-general-soundfont-small; \
	fi

solos-soundfonts:  ## the two extra training SoundFonts of the solos_* presets (csound's GM bank, OPL3 FM), beside FluidR3
	@if [ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] && [ -f /usr/share/sounds/sf2/OPL-3_FM_128M.sf2 ]; then \
		echo "solos training SoundFonts already installed"; \
	else \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			csound-soundfont opl3-soundfont; \
	fi

$(BP_VENV)/.installed: bench/basic_pitch_requirements.txt
	$(PYTHON) -m venv $(BP_VENV)
	$(BP_VENV)/bin/pip install -q -r bench/basic_pitch_requirements.txt
	$(BP_VENV)/bin/pip install -q --no-deps basic-pitch==0.4.0
	touch $@

bench-transcription: install data-deps heldout-soundfonts $(BP_VENV)/.installed  ## train the CPU preset (30 min), then it vs basic-pitch on unseen SoundFonts
	nice -n 10 $(PY) -m wavespace.train experiment=rendered_transcriber $(ARGS)
	$(PY) bench/transcription_quality.py --basic-pitch-python $(BP_VENV)/bin/python
bench-autoencoders: install data-deps heldout-soundfonts solos-soundfonts  ## study 1: net speed, test L1 vs baselines after a fixed CPU budget, latent probe vs controls over 3 seeds (~1 h)
	nice -n 10 $(PY) bench/autoencoders.py all $(ARGS)
# <<< data

bench-harmonic: install  ## study 2: harmonic salience vs CQT peaks and harmonic summation, synth + rendered piano, 3 seeds (ARGS=--quick: smoke)
	@$(MAKE) --no-print-directory data-deps || echo "note: FluidSynth not installed: the rendered-piano scenario is skipped"
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) bench/harmonic_salience.py $(ARGS)

# >>> workflow
# The other entry points, each passing ARGS through (Hydra overrides; `analyze` takes a
# sub-command first). `python -m wavespace.<entry> --help` says what each accepts.
.PHONY: transcribe evaluate analyze export multirun search notebooks-test precommit \
	bench-throughput bench-features bench-cqt bench-memory bench-transcribe-speed

transcribe: install  ## audio -> MIDI: make transcribe ARGS="ckpt=RUN_DIR_OR_CKPT input=FILE_OR_DIR output=DIR"
	$(PY) -m wavespace.transcribe $(ARGS)

evaluate: install  ## mir_eval scores of a checkpoint: make evaluate ARGS="ckpt=PATH data=maestro split=test"
	$(PY) -m wavespace.evaluate $(ARGS)

analyze: install  ## sweep fits, latent probes, salience figures: make analyze ARGS="sweep multirun/DATE/TIME x=model.optimizer.lr"
	$(PY) -m wavespace.analyze $(ARGS)

export: install  ## checkpoint -> ONNX or TorchScript: make export ARGS="ckpt=PATH format=onnx"
	$(PY) -m wavespace.export $(ARGS)

multirun: install  ## Hydra multirun, one job per combination: make multirun ARGS="model.optimizer.lr=1e-3,3e-3 seed=0,1"
	$(PY) -m wavespace.train -m $(ARGS)

search: install  ## Optuna search (conf/hparams_search/optuna.yaml): make search ARGS="experiment=synth_cnn hydra.sweeper.n_trials=20"
	$(PY) -m wavespace.train -m hparams_search=optuna $(ARGS)

notebooks-test: install  ## execute every notebook headless against a tiny run (tests/test_notebooks.py)
	OMP_NUM_THREADS=1 $(PY) -m pytest tests/test_notebooks.py -q $(ARGS)

precommit: install  ## every pre-commit hook (ruff, whitespace, YAML, large files) on every file
	$(VENV)/bin/pre-commit run --all-files

bench-throughput: install  ## Lightning vs a plain PyTorch loop (default run, transcription preset), data wait; ARGS="--device cuda --batch-size 64"
	OMP_NUM_THREADS=1 $(PY) bench/train_throughput.py $(ARGS)

bench-memory: install  ## peak RSS of make train, the transcription preset and transcribe (1 vs 10 min); steps/s vs dataset size
	OMP_NUM_THREADS=1 $(PY) bench/memory_scale.py $(ARGS)

bench-features: install  ## batched front-ends (nnAudio / torch) vs librosa one clip at a time
	OMP_NUM_THREADS=1 $(PY) bench/features.py $(ARGS)

bench-cqt: install  ## our FFT-decimated CQT vs nnAudio's CQT2010v2 and CQT1992v2: time and largest difference
	OMP_NUM_THREADS=1 $(PY) bench/cqt_decimation.py $(ARGS)
bench-transcribe-speed: install  ## CPU transcription: float32 per chunk vs tiles, bf16, 60 s chunks; where the time goes (needs make bench-transcription's audio)
	OMP_NUM_THREADS=1 $(PY) bench/transcribe_speed.py $(ARGS)
# <<< workflow

# >>> pretrained
# The shipped model (src/wavespace/pretrained/, `wavespace.load("piano-cpu")`, the default of
# `wavespace-transcribe`): trained, benched and published from a clean clone by one target.
PRETRAINED_PRESET ?= rendered_music_transcriber
PRETRAINED_NAME ?= piano-cpu
BENCH_RESULTS ?= outputs/bench/transcription_quality/results.json
.PHONY: pretrained

pretrained: install data-deps heldout-soundfonts $(BP_VENV)/.installed  ## the shipped model: train experiment=rendered_music_transcriber (30 min on 2 CPU cores), bench it vs basic-pitch, publish it slim into src/wavespace/pretrained/
	nice -n 10 $(PY) -m wavespace.train experiment=$(PRETRAINED_PRESET) $(ARGS)
	run=$$(ls -t outputs/runs/$(PRETRAINED_PRESET)-*/metrics.json | head -n 1 | xargs dirname) && \
	$(PY) bench/transcription_quality.py --ckpt $$run --basic-pitch-python $(BP_VENV)/bin/python --command-rtf && \
	$(PY) -m wavespace.pretrained publish $$run --name $(PRETRAINED_NAME) --preset $(PRETRAINED_PRESET) \
		--train-command "python -m wavespace.train $(strip experiment=$(PRETRAINED_PRESET) $(ARGS))" --bench $(BENCH_RESULTS)
	$(PY) -m wavespace.pretrained show $(PRETRAINED_NAME)
	@echo "commit src/wavespace/pretrained/$(PRETRAINED_NAME).ckpt and .json, and its bench rows into README.md"
# <<< pretrained
