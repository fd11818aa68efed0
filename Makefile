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
