# Incidencias — the commands a newcomer needs. `make run`, `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The browser tier drives Debian's Chromium; Playwright must never fetch a browser of its own.
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test test-unit test-services test-contract test-integration test-browser test-e2e test-client test-faults test-security test-provision screenshots chromium wrk bench bench-quick bench-smoke bench-search bench-sweep dead-letters clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## Run the whole system on 127.0.0.1 (HOST=0.0.0.0 for every interface; needs RabbitMQ on localhost or AMQP_URL; SQLite storage unless MONGO_URL; mails into var/mail/ unless SMTP_URL)
run: venv
	$(PY) scripts/run.py

## Debian's Chromium for the browser tier, installed with apt when missing (root)
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## The whole test suite (needs RabbitMQ; MONGO_URL adds a real MongoDB to the storage tests)
test: venv chromium
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

## The use cases of every service against the in-memory store: no Flask, database or broker (seconds)
test-services: venv
	$(PY) -m pytest tests/services $(PYTEST_ARGS)

test-contract: venv
	$(PY) -m pytest tests/contract $(PYTEST_ARGS)

test-integration: venv
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

## The portal in headless Chromium against the whole running system (about 4 min)
test-browser: venv chromium
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

test-e2e: venv
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

## A client generated from each service's OpenAPI document, and the README's tour through them (mypy --strict, then run)
test-client: venv
	$(PY) -m pytest tests/client $(PYTEST_ARGS)

## Fault injection against the running system (stops and blocks the local RabbitMQ; several minutes)
test-faults: venv
	$(PY) -m pytest tests/faults -m faults $(PYTEST_ARGS)

## Authorization matrices, hostile input, token attacks and OpenAPI fuzzing against the running system
test-security: venv
	$(PY) -m pytest tests/security $(PYTEST_ARGS)

## Ansible on a Debian 12 root file system: chroot twice, then booted with systemd-nspawn (root; about 3 min)
test-provision: venv
	bash tests/deploy/provision_chroot_test.sh

## Debian's wrk, the load generator of the benchmark's saturation runs, installed with apt when missing (root)
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

## Throughput, latency, cost by open load and idle, against the stack's own ceiling (needs RabbitMQ; about 10 min; writes docs/benchmarks/)
bench: venv wrk
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m bench --profile --wait-quiet 900 $(BENCH_ARGS)

bench-quick: venv wrk
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m bench --quick $(BENCH_ARGS)

## A minute-long run that checks the benchmark works; writes nothing
bench-smoke: venv wrk
	$(PY) -m bench --smoke --no-write $(BENCH_ARGS)

## The searches next to the plain lists at 10,000 and 100,000 stored incidents (writes docs/benchmarks/search.json and its README section)
bench-search: venv
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m bench --search --wait-quiet 900 $(BENCH_ARGS)

## The gunicorn worker-class sweep on a quiet machine (writes docs/benchmarks/sweep.json and its README section)
bench-sweep: venv wrk
	$(PY) -m bench --sweep --wait-quiet 900 $(BENCH_ARGS)

## A service's dead-lettered messages: make dead-letters SERVICE=incidencias_resolucion [ARGS="replay --all"] (AMQP_URL, EXCHANGE as the service's)
dead-letters: venv
	@test -n "$(SERVICE)" || { echo 'name the service: make dead-letters SERVICE=incidencias_resolucion [ARGS="show ID"]'; exit 2; }
	$(PY) -m common.messaging.dead_letters $(or $(ARGS),list) --service $(SERVICE)

## docs/screenshots/*.png: the portal's main pages, from a system started for it (needs RabbitMQ)
screenshots: venv chromium
	$(PY) scripts/screenshots.py

clean:
	rm -rf var .pytest_cache
