"""``python -m bench``: how many incidents per second the system takes, and how
long until an opened incident is in an employee's hands, side by side with
the ceiling of the same stack measured in the same run.

Phases (each printed as it runs):

1. start the system as ``make run`` does (Procfile.dev: four gunicorn
   servers and four worker processes), on SQLite (or MongoDB when
   ``MONGO_URL`` or the ``*_MONGO_URL`` variables are set), plus the bare Flask app of the ceiling
   under the same gunicorn settings;
2. sign up customers through the real API (argon2: a few in parallel) and
   have an admin register a handful of agents;
3. the list endpoints with 10,000 and 100,000 incidents stored (bulk
   fixtures written through the repositories, see ``bench.fixtures``,
   removed again afterwards);
4. open load: 20 more agents, and at 0, 10,000 and 100,000 open incidents
   held by them (fixtures again), one phase each at the same rate: CPU per
   incident of every process (RabbitMQ included) and open -> asignada
   (``Bench.open_loads``);
5. idle: the settled system with no requests for 60 s, its CPU by process;
6. ceiling HTTP: closed-loop ramp on the bare ``POST /incidencias``, then a
   steady run at its saturation point, driven by wrk when it is installed
   (``bench.wrk``: the generator must not take the CPU the server needs);
7. the real ``POST /incidencias``: the same ramp and steady run, same
   generator, the incidents that became visible as assigned meanwhile, and
   how long the backlog took to drain once the load stopped;
8. the raw pika publish -> consume ceiling on the same broker;
9. propagation: open incidents at 80 % of the rate the system sustained at
   saturation; a sample of them ("probes") is followed by polling the
   customer API until it shows ``asignada``, then resolved by its agent and
   followed until the customer sees ``resuelta``;
10. cost: CPU per incident, end to end, at the propagation phase's rate;
11. optional profiling pass (``--profile``, py-spy).

Every phase records where the CPU went (``bench.cpu``); a phase whose load
generator was its bottleneck is invalid, and a run passes only when it
completed, every phase stands, RabbitMQ stayed up and the code did not change
meanwhile. Writes ``results.json`` (stamped by ``harness.provenance``),
``chart.png`` and ``README.md``'s results section (under ``--output``,
default docs/benchmarks/), and prints a table. ``--sweep`` measures the
saturations under several gunicorn configurations instead (``sweep.json``).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from . import report
from .loadgen import Connection, Pool, Sample, build_request, closed_loop, open_loop
from .stats import ratio, summary_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import QUIET_OTHERS_CORES, CpuMeter, judge, quietness  # noqa: E402
from bench.system import BenchSystem  # noqa: E402
from bench.wrk import Wrk, available as wrk_available, version as wrk_version  # noqa: E402
from harness import Account, Driver  # noqa: E402
from harness.provenance import changed_code, commit as current_commit, provenance  # noqa: E402
from harness.provenance import storage as provenance_storage  # noqa: E402

OPEN_FIELDS = {
    "titulo": "La lámpara llegó rota", "descripcion": "La caja venía aplastada y el pie está partido",
    "producto": {"referencia": "LMP-01", "nombre": "Lámpara de pie"}, "pedido": "P-1001",
    "categoria": "envios", "prioridad": "alta",
}
OPEN_BODY = json.dumps(OPEN_FIELDS, ensure_ascii=False).encode()
RESOLVE_BODY = json.dumps({"texto": "Le enviamos una lámpara nueva"}, ensure_ascii=False).encode()
PASSWORD = "Benchmark-pass-2026"
RUN = uuid.uuid4().hex[:6]
DEFAULT_SWEEP = "sync:2,sync:3,sync:4,gthread:2x4"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- accounts ------------------------------------------------------------------
def sign_up_customers(driver: Driver, count: int, parallel: int) -> list[Account]:
    """Register and log in ``count`` customers through clientes' API, ``parallel`` at a time."""
    def sign_up(n: int) -> Account:
        return driver.new_cliente(f"Cliente{n}", apellidos="Bench", email=f"cliente.{RUN}.{n}@bench.example.com",
                                  password=PASSWORD)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(sign_up, range(count)))


def register_agents(driver: Driver, count: int, prefix: str = "agente", parallel: int = 1) -> list[Account]:
    """Have the admin register ``count`` agents through empleados' API (and log them in)."""
    admin = driver.admin_token()

    def register(n: int) -> Account:
        return driver.new_empleado("agente", [], f"{prefix.capitalize()}{n}", admin_token=admin, apellidos="Bench",
                                   email=f"{prefix}.{RUN}.{n}@bench.example.com", password=PASSWORD)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(register, range(count)))


# What is not the system under test in a phase's CPU: the load generator
# (this process, wrk), the bare app of the ceiling (idle beside the system).
# RabbitMQ is the system's, and counted in the totals that say so.
NOT_THE_SYSTEM = ("load_generator", "bare")


def cost_per_incident(seconds: dict[str, float], incidents: int) -> dict:
    """CPU one incident costs, by process (``bench.cpu.CpuMeter.seconds``),
    in ms: ``system_cpu_ms_per_incident`` sums the services' own processes,
    ``cpu_ms_per_incident_total`` adds RabbitMQ (every process of the
    system); the load generator and the bare app are shown, never counted."""
    n = max(incidents, 1)
    per = {name: round(1000 * v / n, 2) for name, v in seconds.items()}
    system = 1000 * sum(v for k, v in seconds.items() if k not in (*NOT_THE_SYSTEM, "rabbitmq")) / n
    return {"incidents": incidents, "cpu_ms_per_incident": per, "system_cpu_ms_per_incident": round(system, 2),
            "cpu_ms_per_incident_total": round(system + 1000 * seconds.get("rabbitmq", 0.0) / n, 2)}


# -- the scenario ----------------------------------------------------------------
class Bench:
    def __init__(self, system: BenchSystem, args: argparse.Namespace):
        self.system = system
        self.args = args
        self.port = {name: int(url.rsplit(":", 1)[1]) for name, url in system.urls.items()}
        self.customers: list[Account] = []
        self.agents: list[Account] = []
        self.load_agents: list[Account] = []  # the open-load levels' (bench.run.Bench.open_loads)
        self.results: dict = {"phases": {}}
        self._stores: dict = {}
        self.keys = itertools.count()
        self.broker_outages = 0
        # The saturation runs' load generator: wrk when installed (see bench.wrk), else bench.loadgen.
        self.generator = args.generator
        self.generator_name = (wrk_version() or "wrk" if self.generator == "wrk"
                               else "bench.loadgen (asyncio, one process)")
        self.wrk: dict[int, Wrk] = {}

    def close(self) -> None:
        for driver in self.wrk.values():
            driver.close()

    def check_broker(self, phase: str) -> None:
        """Before and after each measured phase: a phase during which RabbitMQ
        went away (a colleague's fault test, say) is flagged in the results."""
        if not broker_reachable(self.system.amqp_url):
            self.broker_outages += 1
            self.results.setdefault("broker_down_during", []).append(phase)
            log(f"  RabbitMQ is down around '{phase}': waiting for it; the figures of that phase are flagged")
            broker_up(self.system.amqp_url, max_wait=900)

    # helpers ------------------------------------------------------------------------
    def store(self, name: str):
        from common.storage import open_store

        if name not in self._stores:
            self._stores[name] = open_store(self.system.storage_url(name))
        return self._stores[name]

    def count(self, name: str, estado: str | None = None) -> int:
        from common.storage import CollectionSpec, Query

        collection = self.store(name).collection(CollectionSpec("incidencias"))
        return collection.count(Query(equals={"estado": estado} if estado else {}))

    def open_request(self, port: int):
        tokens = [c.token for c in self.customers]
        keys = self.keys

        def factory(n: int) -> bytes:
            # A fresh Idempotency-Key per request: a reused one would answer the first incident again.
            return build_request("POST", "/incidencias", port, tokens[n % len(tokens)], OPEN_BODY,
                                 {"Idempotency-Key": f"bench-{RUN}-{next(keys)}"})

        return factory

    async def drain_time(self, deadline: float, since: float | None = None) -> float | None:
        """Seconds from ``since`` (default: now) until apertura's store holds
        no ``abierta`` incident, that is until every accepted incident is
        visible to its customer as assigned, polled every ``--drain-poll-ms``
        (as ``count`` counts); None when that took more than ``deadline``."""
        since = time.monotonic() if since is None else since
        poll = self.args.drain_poll_ms / 1000
        while True:
            if self.count("apertura", "abierta") == 0:
                return time.monotonic() - since
            if time.monotonic() - since > deadline:
                return None
            await asyncio.sleep(poll)

    def count_open(self) -> int:
        """Open incidents held by someone, as resolucion stores them (asignada and en_curso)."""
        return self.count("resolucion", "asignada") + self.count("resolucion", "en_curso")

    async def wait_drained(self, timeout: float = 300.0) -> float:
        """Until every opened incident shows as asignada to the customer
        (the deadline moves while RabbitMQ is down: it is waited for)."""
        start = last_check = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.count("apertura", "abierta") == 0 and self.count("resolucion", "abierta") == 0:
                return time.monotonic() - start
            if time.monotonic() - last_check > 5:
                last_check = time.monotonic()
                if not broker_reachable(self.system.amqp_url):
                    self.broker_outages += 1
                    log("  RabbitMQ is down: waiting for it (this run's figures are flagged)")
                    broker_up(self.system.amqp_url, max_wait=900)
                    deadline = time.monotonic() + timeout
            await asyncio.sleep(0.25)
        raise RuntimeError(f"the pipeline did not drain in {timeout:.0f}s "
                           f"({self.count('apertura', 'abierta')} still abierta)")

    # phases ---------------------------------------------------------------------------
    async def setup(self) -> None:
        args = self.args
        log(f"signing up {args.customers} customers through the API ({args.signup_parallel} at a time)")
        start = time.monotonic()
        with Driver(self.system.urls, timeout=30) as driver:
            self.customers = await asyncio.to_thread(sign_up_customers, driver, args.customers,
                                                     args.signup_parallel)
            self.agents = await asyncio.to_thread(register_agents, driver, args.agents)
            took = time.monotonic() - start
            log(f"  {len(self.customers)} customers and {len(self.agents)} agents in {took:.1f}s")
            # One incident end to end: the agents have reached incidencias_resolucion's replica.
            customer = self.customers[0]
            incident = driver.new_incidencia(customer, **OPEN_FIELDS)["id"]
            await asyncio.to_thread(driver.wait_customer_sees, customer, incident, "asignada", 60)
        self.results["setup"] = {"customers": len(self.customers), "agents": len(self.agents),
                                 "signup_seconds": round(took, 1), "signup": "through the API (argon2id)"}

    def closed_loop_generator(self, port: int):
        """The wrk driver of ``port``'s ``POST /incidencias`` (made once per port)."""
        if port not in self.wrk:
            self.wrk[port] = Wrk(port, "POST", "/incidencias", OPEN_BODY, [c.token for c in self.customers],
                                 workdir=self.system.workdir)
        return self.wrk[port]

    async def closed(self, port: int, concurrency: int, duration: float, meter: CpuMeter | None = None) -> dict:
        """One closed-loop run of ``POST /incidencias`` against ``port`` with
        the saturation phases' generator, in the results' shape."""
        if self.generator == "wrk":
            run = await asyncio.to_thread(self.closed_loop_generator(port).run, concurrency, duration)
            if meter is not None:
                meter.add_generator(run.cpu_seconds, run.threads, run.runnable)
            return {"rps": round(run.rate, 1), **run.latency_ms, "requests": run.ok, "errors": run.errors,
                    "statuses": run.statuses, "window_s": round(run.window, 3)}
        sample = await closed_loop(port, self.open_request(port), concurrency, duration, warmup=0.0, expect=201)
        return {"rps": round(sample.rate, 1), **summary_ms(sample.latencies), "requests": sample.ok,
                "errors": sample.errors, "statuses": sample.statuses, "window_s": round(sample.window, 3)}

    def judge_saturation(self, label: str, cpu: dict) -> dict:
        """``bench.cpu.judge`` for a saturation run: the ceiling's server is the
        bare app (at most one core per gunicorn worker), the real endpoint's
        is the whole system with RabbitMQ (every core); a ceiling must
        saturate something."""
        bare = cpu["by_process_cores"].get("bare", 0.0)
        if label == "ceiling":
            return judge(cpu, server_cores=bare, capacity=min(self.args.workers, cpu["cores"]), must_saturate=True)
        return judge(cpu, server_cores=cpu["system_under_test_cores"] - bare + cpu["broker_cores"],
                     capacity=cpu["cores"])

    async def saturate(self, label: str, port: int) -> dict:
        """Ramp the concurrency, pick the saturation point (the smallest
        concurrency within 5 % of the best throughput), then measure there.
        Every run is preceded by a warm-up run that is not counted, and its
        CPU is measured: the generator's share says whether it limited it.

        For the real endpoint (``open``) it also counts whether the pipeline
        kept up: ``accepted_rps``, the 201 answers per second of the steady
        run; ``assigned_visible_during_window``, the incidents apertura's
        store shows ``asignada`` after it minus before it (over
        ``assigned_counted_over_s``: their quotient is the sustained rate);
        and ``backlog_drain_s``, from the end of the steady run until
        apertura's store holds no ``abierta`` incident, polled every
        ``--drain-poll-ms`` (None when it did not drain within
        ``--drain-deadline`` seconds: the phase is then invalid)."""
        args = self.args
        ramp = []
        for level in args.levels:
            await self.closed(port, level, 1.0)
            with CpuMeter(self.system, self.generator_name) as cpu:
                point = await self.closed(port, level, args.ramp_step, cpu)
            verdict = self.judge_saturation(label, cpu.result)
            point = {"concurrency": level, **point,
                     "cpu": {key: verdict[key] for key in ("load_generator_busiest_thread_cores",
                                                           "load_generator_busiest_thread_runnable", "server_cores",
                                                           "machine_busy_pct", "limited_by")}}
            ramp.append(point)
            log(f"  {label:<8} c={level:<3} {point['rps']:>7.1f} req/s  p50 {point['p50_ms']} ms  "
                f"p99 {point['p99_ms']} ms  {point['statuses']}  generator {verdict['load_generator_busiest_thread_cores']}"
                f" / server {verdict['server_cores']} cores")
        best = max(p["rps"] for p in ramp)
        chosen = next(p["concurrency"] for p in ramp if p["rps"] >= 0.95 * best)
        await self.closed(port, chosen, 2.0)
        # Incidents that became visible as asignada between the two counts, around the measured run only.
        visible_before = self.count("apertura", "asignada") if label == "open" else 0
        counted_from = time.monotonic()
        with CpuMeter(self.system, self.generator_name) as cpu:
            measured = await self.closed(port, chosen, args.duration, cpu)
        ended = time.monotonic()
        result = {"concurrency": chosen, **measured, "cpu": cpu.result, "ramp": ramp}
        if label == "open":
            result["assigned_visible_during_window"] = self.count("apertura", "asignada") - visible_before
            result["assigned_counted_over_s"] = round(time.monotonic() - counted_from, 3)
            accepted = {int(k): v for k, v in measured["statuses"].items()}.get(201, 0)
            result["accepted_rps"] = round(accepted / measured["window_s"], 1) if measured["window_s"] else 0.0
            drained = await self.drain_time(args.drain_deadline, since=ended)
            result["backlog_drain_s"] = None if drained is None else round(drained, 3)
            log(f"  backlog after the load stopped: " + (f"drained in {drained:.2f}s" if drained is not None
                                                          else f"not drained in {args.drain_deadline:g}s"))
        log(f"  {label:<8} saturation at c={chosen}: {result['rps']} req/s, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms (cpu: {cpu.result})")
        return result

    def broker_ceiling(self) -> dict:
        from .broker import measure

        log("raw pika publish -> consume on the same broker (throwaway quorum queue)")
        with CpuMeter(self.system, "pika (this process)") as cpu:
            result = measure(self.system.amqp_url, rate_seconds=self.args.broker_seconds,
                             latency_messages=self.args.broker_messages)
        result["cpu"] = cpu.result
        log(f"  confirmed publish rate {result['confirmed_publish_rate']}/s, publish->consume "
            f"{result['publish_consume_rate']}/s, latency p50 {result['latency']['p50_ms']} ms "
            f"p99 {result['latency']['p99_ms']} ms")
        return result

    async def follow(self, rate: float, duration: float, *, label: str, resolve: bool = True,
                     until_drained: bool = False, meter_name: str = "bench.loadgen (asyncio, open loop)") -> dict:
        """Open incidents at a constant ``rate`` for ``duration`` seconds (an
        open loop: whatever the answers' pace) and follow about
        ``--probe-rate`` of them a second ("probes"): their customer polls
        ``GET /incidencias/{id}`` every ``--poll-ms`` until it shows
        ``asignada``; with ``resolve``, the probe is then resolved by its
        agent and followed until the customer sees ``resuelta``.

        With ``until_drained`` the CPU is counted until every opened incident
        is visible as assigned too, and divided by the incidents
        (``cost_per_incident``): the probes' polls are part of that cost, and
        ``polls_per_incident`` says how many there were."""
        args = self.args
        probe_every = max(1, round(rate / args.probe_rate))
        aport, rport = self.port["apertura"], self.port["resolucion"]
        pool = Pool(aport, 256)
        rpool = Pool(rport, 64)
        agent_tokens = {a.id: a.token for a in [*self.agents, *self.load_agents]}
        factory = self.open_request(aport)
        opens = Sample()
        probes: list[dict] = []
        failures: dict[str, int] = {}
        polls = {"n": 0}
        poll_interval = args.poll_ms / 1000

        async def until_state(incident: str, token: str, estado: str, timeout: float = 30.0):
            request = build_request("GET", f"/incidencias/{incident}", aport, token)
            deadline = time.time() + timeout
            while time.time() < deadline:
                response = await pool.request(request)
                polls["n"] += 1
                if response.status == 200:
                    doc = response.json()
                    if doc["estado"] == estado:
                        return time.time(), doc
                await asyncio.sleep(poll_interval)
            return None, None

        async def job(n: int, scheduled: float) -> None:
            token = self.customers[n % len(self.customers)].token
            try:
                response = await pool.request(factory(n))
            except Exception:  # noqa: BLE001 - counted
                opens.errors += 1
                return
            answered, wall = time.perf_counter(), time.time()
            opens.add(response.status, answered - scheduled)
            if response.status != 201 or n % probe_every:
                return
            doc = response.json()
            seen_at, assigned = await until_state(doc["id"], token, "asignada")
            if seen_at is None:
                failures["not_assigned"] = failures.get("not_assigned", 0) + 1
                return
            entry = next(h for h in reversed(assigned["historial"]) if h["a"] == "asignada")
            probe = {
                "open_to_assigned": seen_at - wall,
                "created_to_answer": wall - instant(doc["creada_en"]),
                "created_to_assigned": instant(entry["en"]) - instant(doc["creada_en"]),
                "assigned_to_visible": seen_at - instant(entry["en"]),
            }
            agent = agent_tokens.get(assigned["asignada_a"]["id"])
            if not resolve or agent is None:
                if resolve:
                    failures["held_by_another_agent"] = failures.get("held_by_another_agent", 0) + 1
                probes.append(probe)
                return
            request = build_request("POST", f"/incidencias/{doc['id']}/resolucion", rport, agent, RESOLVE_BODY)
            sent = time.perf_counter()
            resolved = await rpool.request(request)
            resolved_wall = time.time()
            probe["resolve_request"] = time.perf_counter() - sent
            if resolved.status != 200:
                failures[f"resolve_{resolved.status}"] = failures.get(f"resolve_{resolved.status}", 0) + 1
                probes.append(probe)
                return
            seen_at, done = await until_state(doc["id"], token, "resuelta")
            if seen_at is None:
                failures["not_resolved"] = failures.get("not_resolved", 0) + 1
            else:
                probe["resolved_visible"] = seen_at - resolved_wall
                probe["resolved_to_visible"] = seen_at - instant(done["resuelta_en"])
            probes.append(probe)

        log(f"{label}: {rate:.1f} opens/s for {duration:.0f}s, one in {probe_every} followed "
            f"(polling every {args.poll_ms:g} ms{'' if resolve else ', not resolved'})"
            + (", CPU counted until all are assigned" if until_drained else ""))
        with CpuMeter(self.system, meter_name) as cpu:
            started, skipped = await open_loop(rate, duration, job)
            if until_drained:
                await self.wait_drained()
        pool.close()
        rpool.close()
        opens.window = duration

        def pick(key: str) -> list[float]:
            return [p[key] for p in probes if key in p]

        result = {
            "target_rps": round(rate, 1), "achieved_rps": round(opens.rate, 1), "duration_s": duration,
            "opens": {**summary_ms(opens.latencies), "statuses": opens.statuses, "errors": opens.errors,
                      "skipped": skipped},
            "probes": len(probes), "probe_every": probe_every, "poll_ms": args.poll_ms, "polls": polls["n"],
            "resolved": resolve, "failures": failures,
            "open_to_assigned": summary_ms(pick("open_to_assigned")),
            "resolved_visible": summary_ms(pick("resolved_visible")),
            "breakdown": {key: summary_ms(pick(key)) for key in (
                "created_to_answer", "created_to_assigned", "assigned_to_visible",
                "resolve_request", "resolved_to_visible")},
            "cpu": cpu.result,
        }
        if until_drained:
            result.update(cost_per_incident(cpu.seconds, opens.ok))
            result["polls_per_incident"] = round(polls["n"] / max(opens.ok, 1), 2)
        log(f"  open->assigned p50 {result['open_to_assigned']['p50_ms']} ms p99 "
            f"{result['open_to_assigned']['p99_ms']} ms"
            + (f"; resolved visible p50 {result['resolved_visible']['p50_ms']} ms p99 "
               f"{result['resolved_visible']['p99_ms']} ms" if resolve else "")
            + (f"; {result['cpu_ms_per_incident_total']} ms CPU per incident with RabbitMQ" if until_drained else "")
            + f" ({len(probes)} probes, {failures or 'no failures'})")
        return result

    async def propagation(self, basis: float | None) -> dict:
        """Open -> asignada (and resolve -> resuelta) as customers see them, at
        ``--load-fraction`` (0.8) of ``basis``, the rate the system sustains
        (the smaller of what the API accepted and what the pipeline assigned
        at saturation), or at ``--half-rate`` when pinned (to compare two
        versions at the same load)."""
        args = self.args
        rate = args.half_rate or max(1.0, (basis or 0.0) * args.half_fraction)
        result = await self.follow(rate, args.half_duration, label=f"propagation ({args.half_fraction:.0%} load)")
        result.update(fraction=None if args.half_rate else args.half_fraction,
                      of_rps=None if basis is None else round(basis, 1),
                      pinned=bool(args.half_rate))
        return result

    async def cost(self, rate: float, ceiling: dict) -> dict:
        """CPU spent per incident by each process, end to end: opens at
        ``rate`` (no probes, no polling) and the CPU is counted until the
        last one is assigned and visible to its customer. ``system_*`` is
        the services' own processes; ``cpu_ms_per_incident_total`` adds
        RabbitMQ; the bare request's CPU is the bare app's in the ceiling's
        steady run, per request."""
        args = self.args
        port = self.port["apertura"]
        pool = Pool(port, 256)
        factory = self.open_request(port)
        opened = Sample()

        async def job(n: int, scheduled: float) -> None:
            try:
                response = await pool.request(factory(n))
            except Exception:  # noqa: BLE001 - counted
                opened.errors += 1
                return
            opened.add(response.status, time.perf_counter() - scheduled)

        log(f"cost: {rate:.1f} opens/s for {args.cost_duration:.0f}s, CPU counted until all are assigned")
        with CpuMeter(self.system, "bench.loadgen (asyncio, open loop)") as cpu:
            await open_loop(rate, args.cost_duration, job)
            await self.wait_drained()
        pool.close()
        bare_seconds = ceiling["cpu"]["by_process_cores"].get("bare", 0) * ceiling["cpu"]["wall_s"]
        bare_per_request = round(1000 * bare_seconds / max(ceiling["requests"], 1), 3)
        costs = cost_per_incident(cpu.seconds, opened.ok)
        system = costs["system_cpu_ms_per_incident"]
        result = {**costs, "bare_cpu_ms_per_request": bare_per_request, "rate": round(rate, 1), "cpu": cpu.result,
                  "cpu_bound_rps": round(1000 * (os.cpu_count() or 1) / system, 1) if system else None}
        log(f"  {costs['cpu_ms_per_incident_total']} ms of CPU per incident end to end with RabbitMQ, {system} ms "
            f"without (bare request: {bare_per_request} ms): "
            + ", ".join(f"{k} {v}" for k, v in sorted(costs["cpu_ms_per_incident"].items(), key=lambda kv: -kv[1])))
        return result

    # -- open load -------------------------------------------------------------------
    async def register_load_agents(self) -> list[Account]:
        """``--open-load-agents`` more agents through empleados (real, active
        employees), once resolucion's replica knows them."""
        args = self.args
        log(f"open load: registering {args.open_load_agents} agents through empleados")
        with Driver(self.system.urls, timeout=30) as driver:
            agents = await asyncio.to_thread(register_agents, driver, args.open_load_agents, "cargado",
                                             args.signup_parallel)
            admin = await asyncio.to_thread(driver.admin_token)
            await asyncio.to_thread(driver.wait_known_by_resolucion, admin, *agents, timeout=120)
        return agents

    async def open_load_rate(self) -> tuple[float, dict]:
        """The one rate of every open-load level: ``--open-load-rate`` when
        pinned, else ``--open-load-fraction`` (0.5) of what a short probe
        found the system sustains: a closed loop of ``--open-load-probe``
        seconds (4 clients) on ``POST /incidencias``, whose accepted
        incidents per second and whose incidents per second from its start
        until all are visible as assigned (the pipeline's rate) give the
        smaller. The probe's incidents stay open (they are counted in the
        open load of level 0)."""
        args = self.args
        if args.open_load_rate:
            return args.open_load_rate, {"pinned": True}
        await self.wait_drained()
        start = time.monotonic()
        with CpuMeter(self.system, self.generator_name) as cpu:
            run = await self.closed(self.port["apertura"], 4, args.open_load_probe, cpu)
        drained = await self.drain_time(args.drain_deadline)
        if drained is None:
            drained = await self.wait_drained()
        through = run["requests"] / max(time.monotonic() - start, 1e-9)
        basis = min(run["rps"], through)
        rate = max(1.0, args.open_load_fraction * basis)
        probe = {"pinned": False, "accepted_rps": run["rps"], "assigned_through_rps": round(through, 1),
                 "incidents": run["requests"], "fraction": args.open_load_fraction, "cpu": cpu.result}
        log(f"  probe: {run['rps']} accepted/s, {through:.1f} assigned/s through the pipeline: "
            f"every level at {rate:.1f} opens/s")
        return rate, probe

    def loads_check(self, ids: list[str]) -> dict:
        """Whether resolucion's load counters equal the loads counted from
        its documents, for the employees ``ids`` (the fixtures moved the
        counters themselves: this says they moved them right)."""
        from incidencias_resolucion.repository import IncidenciaRepository, carga_counter

        store = self.store("resolucion")
        counted = IncidenciaRepository(store).recount_loads(ids)
        kept = store.counters([carga_counter(i) for i in ids])
        kept = {i: kept.get(carga_counter(i), 0) for i in ids}
        wrong = {i: {"counter": kept[i], "documents": counted[i]} for i in ids if kept[i] != counted[i]}
        return {"employees": len(ids), "held": sum(counted.values()), "counters_match": not wrong,
                "mismatched": wrong}

    def ensure_counted(self) -> None:
        """resolucion counts its loads from the documents once (the first
        time one is needed); it must have, before fixtures move the
        counters, or it would count them twice."""
        from incidencias_resolucion.repository import LOADS_COUNTED, IncidenciaRepository

        store = self.store("resolucion")
        if not store.counters([LOADS_COUNTED]).get(LOADS_COUNTED):
            IncidenciaRepository(store).ensure_loads()

    async def open_loads(self) -> dict:
        """CPU per incident and open -> asignada at several open loads.

        ``--open-load-agents`` (20) agents are registered; for each level of
        ``--open-loads`` the stores are topped up with fixture incidents
        (``bench.fixtures.OPEN_MIX``: asignada and en_curso, held by those
        agents, customers ``fixture-cliente-*``, both stores, counters
        moved) until resolucion holds that many open incidents (fewer are
        never removed: level 0 holds what the run opened so far, reported as
        ``open``), then one phase at the same rate for every level
        (``open_load_rate``), ``--open-load-duration`` seconds: opens with
        probes (not resolved, so the open load stays put), the CPU of every
        process counted until all are visible as assigned. The new incidents
        go to the least loaded agents, as the assignment decides. The
        fixtures are removed after the last level, and their counters moved back."""
        from .fixtures import OPEN_MIX, Fixtures

        args = self.args
        self.ensure_counted()
        load_agents = self.load_agents = await self.register_load_agents()
        employees = [a.id for a in [*self.agents, *load_agents]]
        rate, probe = await self.open_load_rate()
        fixtures = Fixtures(self.system.storage_url("apertura"), self.system.storage_url("resolucion"))
        customers = [f"fixture-cliente-{n:05d}" for n in range(args.fixture_customers)]
        holders = [(a.id, f"{a.nombre} Bench") for a in load_agents]
        levels: dict[str, dict] = {}
        try:
            for level in args.open_loads:
                await self.wait_drained()
                have = self.count_open()
                if have < level:
                    start = time.monotonic()
                    written = fixtures.fill(level - have, customers, holders, mix=OPEN_MIX)
                    log(f"  stored {written['incidencias_resolucion']} open fixture incidents in "
                        f"{time.monotonic() - start:.1f}s")
                loads = self.loads_check(employees)
                if not loads["counters_match"]:
                    log(f"  WARNING: resolucion's load counters differ from its documents: {loads['mismatched']}")
                actual = self.count_open()
                phase = await self.follow(rate, args.open_load_duration, label=f"open load {actual:,}",
                                          resolve=False, until_drained=True)
                levels[str(level)] = {"level": level, "open": actual, "loads": loads, **phase}
        finally:
            removed = fixtures.remove()
        after = self.loads_check(employees)
        log(f"  removed the {removed} open fixture documents again (load counters right: {after['counters_match']})")
        return {"rate": round(rate, 1), "rate_from": probe, "agents": len(load_agents), "levels": levels,
                "removed": removed, "loads_after_removal": after}

    # -- idle ------------------------------------------------------------------------
    async def settle(self, timeout: float = 60.0) -> dict:
        """Until nothing is left to do: every opened incident assigned, and no
        event or mail waiting in any service's outbox (``timeout`` at most)."""
        from common.storage import MAIL_PENDING

        await self.wait_drained()
        start = time.monotonic()
        while True:
            left = {}
            for name in ("clientes", "apertura", "resolucion", "empleados"):
                store = self.store(name)
                events, mails = len(store.pending_events(limit=1)), store.mail_counts().get(MAIL_PENDING, 0)
                if events or mails:
                    left[name] = {"events": events, "mails": mails}
            if not left or time.monotonic() - start > timeout:
                return {"waited_s": round(time.monotonic() - start, 2), "left": left}
            await asyncio.sleep(0.25)

    async def idle(self) -> dict:
        """The whole system with nothing to do for ``--idle-seconds``: once it
        settled (``settle``; a phase that began with work left is invalid),
        no request at all, and the CPU of every process
        of the system and of RabbitMQ. ``idle_cores`` is their sum (the
        services' processes and RabbitMQ; not this process, not the bare
        app). RabbitMQ's CPU is all of the local broker's: a colleague's
        traffic on it would count too (``others_cores`` shows the rest of
        the machine)."""
        args = self.args
        settled = await self.settle()
        await asyncio.sleep(1.0)  # the last relay and consumer wake-ups of that work
        log(f"idle: {args.idle_seconds:g}s with no requests")
        with CpuMeter(self.system, "none (idle)") as cpu:
            await asyncio.sleep(args.idle_seconds)
        wall = max(cpu.result["wall_s"], 1e-9)
        by_process = {name: round(v / wall, 4) for name, v in cpu.seconds.items() if name not in NOT_THE_SYSTEM}
        services = sum(v for name, v in cpu.seconds.items() if name not in (*NOT_THE_SYSTEM, "rabbitmq")) / wall
        broker = cpu.seconds.get("rabbitmq", 0.0) / wall
        result = {"seconds": args.idle_seconds, "settled": settled, "idle_cores": round(services + broker, 4),
                  "services_cores": round(services, 4), "rabbitmq_cores": round(broker, 4),
                  "by_process_cores": by_process, "cpu": cpu.result}
        log(f"  idle: {result['idle_cores']} cores (services {result['services_cores']}, RabbitMQ "
            f"{result['rabbitmq_cores']}): " + ", ".join(f"{k} {v}" for k, v in sorted(
                by_process.items(), key=lambda kv: -kv[1])))
        return result

    async def lists(self, bare_port: int) -> dict:
        from .fixtures import SEARCHED_WORD, Fixtures
        from .portal import session_cookie

        args = self.args
        aport, rport = self.port["apertura"], self.port["resolucion"]
        customer_token = self.customers[1].token
        agent = self.agents[0]
        endpoints = {
            "customer_list": (aport, "/incidencias?pagina=1&por_pagina=20", customer_token),
            "agent_queue": (rport, "/incidencias?asignada_a=yo&estado=asignada&pagina=1&por_pagina=20",
                            agent.token),
            "staff_waiting": (rport, "/incidencias?estado=abierta&pagina=1&por_pagina=20", agent.token),
            "staff_all": (rport, "/incidencias?pagina=1&por_pagina=20", agent.token),
            # A word one stored incident in SEARCHED_EVERY holds, typed without its accent: staff's
            # search over everything, best matches first; a customer's over their own.
            "staff_search": (rport, f"/incidencias?q={SEARCHED_WORD}&pagina=1&por_pagina=20", agent.token),
            "customer_search": (aport, f"/incidencias?q={SEARCHED_WORD}&pagina=1&por_pagina=20", customer_token),
            "bare_get": (bare_port, "/incidencias", customer_token),
        }
        # The measured customer and agents get incidents of their own first, through the API.
        with Driver(self.system.urls, timeout=30) as driver:
            for _ in range(max(1, args.own_incidents)):  # at least one, to follow live
                followed = driver.new_incidencia(self.customers[1], **OPEN_FIELDS)["id"]
        await self.wait_drained()
        # The portal's pages that wrap the first two, and its live-update poll, asked for
        # with a signed-in session's cookie.
        pport = int(self.system.portal_url.rsplit(":", 1)[1])
        cookies = {"cliente": session_cookie(self.system.portal_url, "/entrar", self.customers[1].email,
                                             self.customers[1].password),
                   "equipo": session_cookie(self.system.portal_url, "/equipo/entrar", agent.email, agent.password)}
        pages = {
            "portal_customer_list": (pport, "/incidencias", cookies["cliente"]),
            "portal_agent_queue": (pport, "/equipo/incidencias?vista=mias&estado=asignada", cookies["equipo"]),
            # What an open incident page asks every second for its live updates.
            "portal_live_poll": (pport, f"/incidencias/{followed}/estado.json", cookies["cliente"]),
        }
        fixture_customers = [f"fixture-cliente-{n:05d}" for n in range(args.fixture_customers)]
        fixture_agents = [(f"fixture-agente-{n:02d}", f"Agente Histórico {n}") for n in range(20)]
        fixtures = Fixtures(self.system.storage_url("apertura"), self.system.storage_url("resolucion"))
        results = {}
        for size in args.list_sizes:
            have = self.count("apertura")
            if have < size:
                start = time.monotonic()
                written = fixtures.fill(size - have, fixture_customers, fixture_agents)
                log(f"  stored {written} fixture incidents in {time.monotonic() - start:.1f}s")
            stored = {"apertura": self.count("apertura"), "resolucion": self.count("resolucion")}
            by_endpoint = {}
            with CpuMeter(self.system, "bench.loadgen (asyncio, one connection)") as meter:
                for name, (port, path, token) in endpoints.items():
                    conn = Connection(port)
                    request = build_request("GET", path, port, token)
                    latencies, total = [], None
                    try:
                        for n in range(args.list_requests + 20):
                            sent = time.perf_counter()
                            response = await conn.request(request)
                            took = time.perf_counter() - sent
                            if response.status != 200:
                                raise RuntimeError(f"{name}: {response.status} {response.body[:200]!r}")
                            if n >= 20:
                                latencies.append(took)
                            total = response.json().get("total")
                    finally:
                        conn.close()
                    by_endpoint[name] = {**summary_ms(latencies), "total": total, "path": path}
                for name, (port, path, cookie) in pages.items():
                    conn = Connection(port)
                    request = build_request("GET", path, port, headers={"Cookie": cookie})
                    first_bytes = []
                    try:
                        for n in range(args.list_requests + 20):
                            sent = time.perf_counter()
                            response = await conn.request(request)
                            if response.status != 200:
                                raise RuntimeError(f"{name}: {response.status} {response.body[:200]!r}")
                            if n >= 20:
                                first_bytes.append(conn.head_at - sent)
                    finally:
                        conn.close()
                    by_endpoint[name] = {**summary_ms(first_bytes), "path": path, "measures": "time to first byte"}
            results[str(size)] = {"stored": stored, "own_incidents": args.own_incidents, "endpoints": by_endpoint,
                                  "cpu": meter.result}
            log(f"  {stored['apertura']} incidents stored: " + ", ".join(
                f"{name} p50 {v['p50_ms']} / p99 {v['p99_ms']} ms" for name, v in by_endpoint.items()))
        removed = fixtures.remove()
        log(f"  removed the {removed} fixture documents again")
        return results

    async def profile(self, out: Path, bare_port: int, concurrency: int, rate: float) -> dict:
        from .profile import record

        args = self.args
        log(f"profiling: py-spy on incidencias_apertura's gunicorn for {args.profile_seconds:.0f}s at c={concurrency}")
        targets = {"open": self.system.processes["apertura"].pid}
        recording = record(targets, args.profile_seconds, out, subprocesses=True)
        await closed_loop(self.port["apertura"], self.open_request(self.port["apertura"]), concurrency,
                          args.profile_seconds + 1, warmup=0.5)
        summaries = recording.finish()
        await self.wait_drained()
        log(f"profiling: py-spy on both incident workers during {args.profile_seconds:.0f}s at {rate:.1f} opens/s")
        targets = {"apertura-worker": self.system.processes["apertura_worker"].pid,
                   "resolucion-worker": self.system.processes["resolucion_worker"].pid,
                   "resolucion-web": self.system.processes["resolucion"].pid}
        recording = record(targets, args.profile_seconds, out, subprocesses=True)
        await self.follow(rate, args.profile_seconds, label="profiling load")
        summaries.update(recording.finish())
        await self.wait_drained()
        return summaries


# -- orchestration -----------------------------------------------------------------
def test_runs() -> int:
    """pytest processes running on this machine, this one's parents aside."""
    mine = {os.getpid(), os.getppid()}
    found = subprocess.run(["pgrep", "-f", "pytest"], capture_output=True, text=True).stdout.split()
    return len([pid for pid in found if int(pid) not in mine])


def wait_quiet(max_wait: float, load_limit: float) -> dict:
    """Wait until no test run is going on and the 1-minute load is low."""
    start = time.monotonic()
    while True:
        running = test_runs()
        load1 = os.getloadavg()[0]
        waited = time.monotonic() - start
        if (not running and load1 < load_limit) or waited > max_wait:
            return {"waited_s": round(waited), "pytest_processes": running, "loadavg_1m": round(load1, 2),
                    "quiet": not running and load1 < load_limit}
        log(f"waiting for a quiet machine: {running} pytest processes, load {load1:.2f}")
        time.sleep(20)


def broker_reachable(url: str) -> bool:
    from common.messaging import check_broker

    try:
        check_broker(url, timeout=3.0)
        return True
    except Exception:  # noqa: BLE001
        return False


def broker_up(url: str, max_wait: float = 300) -> None:
    from common.messaging import check_broker

    start = time.monotonic()
    while True:
        try:
            check_broker(url)
            return
        except Exception as exc:  # noqa: BLE001 - a broker being restarted times out its handshake
            if time.monotonic() - start > max_wait:
                raise
            log(f"RabbitMQ not reachable yet, waiting: {exc}")
            time.sleep(5)


def code_fingerprint() -> tuple:
    """The commit and the content of every file whose code differs from it.
    Taken when a run starts and again when it ends: the working tree may be
    shared, and a run during which the code changed measured no single tree."""
    changed = changed_code()
    contents = []
    for name in changed or []:
        path = ROOT / name
        contents.append((name, hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None))
    return current_commit(), changed is None, tuple(contents)


def mongo_urls() -> dict[str, str]:
    """Nothing to name: the harness gives each service its MongoDB database
    from the environment (each ``*_MONGO_URL``, or one made for the run on
    ``MONGO_URL``'s server and dropped afterwards), or SQLite."""
    return {}


def start_system(mongo: dict, env: dict[str, str], attempts: int = 3) -> tuple[BenchSystem, Path, int]:
    """Start the system and the bare app, in a temporary directory (again on
    new ports when another process took one meanwhile)."""
    workdir = Path(tempfile.mkdtemp(prefix="incidencias-bench-"))
    try:
        system = BenchSystem.launch(workdir, attempts, mongo_urls=mongo, **env)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return system, workdir, system.bare_port


def gunicorn_env(args) -> dict[str, str]:
    return {"WEB_CONCURRENCY": str(args.workers), "GUNICORN_WORKER_CLASS": args.worker_class,
            "GUNICORN_THREADS": str(args.threads)}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def whole_system(cpu: dict) -> dict:
    """``judge`` for a phase that does not saturate on purpose: the server is
    every process of the system and RabbitMQ."""
    return judge(cpu, server_cores=cpu["system_under_test_cores"] + cpu["broker_cores"], capacity=cpu["cores"])


def fail(verdict: dict, why: str) -> None:
    """Mark a phase's verdict invalid for ``why`` (besides what ``judge`` found)."""
    verdict["why"] = "; ".join(filter(None, [verdict["why"] if not verdict["valid"] else "", why]))
    verdict["valid"] = False


def report_verdicts(verdicts: dict[str, dict]) -> list[str]:
    """Log the phases that do not stand; their names."""
    invalid = [name for name, verdict in verdicts.items() if not verdict["valid"]]
    for name in invalid:
        log(f"INVALID phase '{name}': {verdicts[name]['why']}")
    return invalid


async def run_main(args) -> dict:
    mongo = mongo_urls()
    code = code_fingerprint()
    machine = {"cpu_count": os.cpu_count()}
    if args.wait_quiet:
        machine["loadavg_before_wait"] = loadavg()
        machine["quiet_wait"] = wait_quiet(args.wait_quiet, args.quiet_load)
        log(f"machine: {machine['quiet_wait']}")
    machine["loadavg_at_start"] = loadavg()
    runs_at_start = test_runs()
    broker_up(os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/")
    started = time.time()
    results: dict = {}
    log(f"starting the system ({provenance_storage()}; gunicorn {args.worker_class} x{args.workers}"
        f"{f' x{args.threads} threads' if args.worker_class == 'gthread' else ''} per service)")
    system, workdir, bare_port = start_system(mongo, gunicorn_env(args))
    bench = Bench(system, args)
    log(f"saturation runs driven by {bench.generator_name}")
    try:
        await bench.setup()
        # Lists first, while the stores hold only what the fixtures put there
        # (the load phases below open tens of thousands of incidents).
        log("list endpoints with large stores")
        lists = await bench.lists(bare_port)
        # The open-load levels next, while the run itself has opened next to nothing.
        open_loads = await bench.open_loads()
        bench.check_broker("open load")
        idle = await bench.idle()
        bench.check_broker("idle")
        log("ceiling: bare Flask POST /incidencias under the same gunicorn settings")
        ceiling = await bench.saturate("ceiling", bare_port)
        log("POST /incidencias at saturation")
        bench.check_broker("before saturation")
        opened = await bench.saturate("open", bench.port["apertura"])
        bench.check_broker("saturation")
        drain = await bench.wait_drained()
        opened["drain_after_load_s"] = round(drain if opened["backlog_drain_s"] is None
                                             else max(drain, opened["backlog_drain_s"]), 1)
        broker = bench.broker_ceiling()
        sustained = min(opened["accepted_rps"], report.sustained_rps(opened))
        propagation = await bench.propagation(sustained)
        bench.check_broker("propagation")
        await bench.wait_drained()
        cost = await bench.cost(propagation["target_rps"], ceiling)
        bench.check_broker("cost")
        phase_cpu = {**{f"lists_{size}": data["cpu"] for size, data in lists.items()}}
        if open_loads["rate_from"].get("cpu"):
            phase_cpu["open_load_probe"] = open_loads["rate_from"]["cpu"]
        phase_cpu.update({f"open_load_{level}": data["cpu"] for level, data in open_loads["levels"].items()})
        phase_cpu.update({"idle": idle["cpu"], "ceiling": ceiling["cpu"], "open": opened["cpu"],
                          "broker": broker["cpu"], "propagation": propagation["cpu"], "cost": cost["cpu"]})
        verdicts = {name: whole_system(cpu) for name, cpu in phase_cpu.items()}
        verdicts["ceiling"] = bench.judge_saturation("ceiling", ceiling["cpu"])
        verdicts["open"] = bench.judge_saturation("open", opened["cpu"])
        if "open_load_probe" in verdicts:
            verdicts["open_load_probe"] = bench.judge_saturation("open", phase_cpu["open_load_probe"])
        verdicts["broker"] = judge(broker["cpu"], server_cores=broker["cpu"]["broker_cores"],
                                   capacity=broker["cpu"]["cores"])
        if opened["backlog_drain_s"] is None:
            fail(verdicts["open"], f"the backlog did not drain within {args.drain_deadline:g} s of the load's end")
        if idle["settled"]["left"]:
            fail(verdicts["idle"], f"work was left when it began: {idle['settled']['left']}")
        for level, data in open_loads["levels"].items():
            if not data["loads"]["counters_match"]:
                fail(verdicts[f"open_load_{level}"], "resolucion's load counters differed from its documents")
        if open_loads["levels"] and not open_loads["loads_after_removal"]["counters_match"]:
            fail(verdicts[f"open_load_{list(open_loads['levels'])[-1]}"],
                 "resolucion's load counters differed from its documents once the fixtures were removed")
        invalid = report_verdicts(verdicts)
        machine["loadavg_at_end"] = loadavg()
        machine["quiet"] = quietness(phase_cpu, limit=args.quiet_others,
                                     test_runs={"at_start": runs_at_start, "at_end": test_runs()})
        profile = None
        if args.profile:
            profile = await bench.profile(Path(args.output), bare_port, opened["concurrency"],
                                          propagation["target_rps"])
        valid = not bench.broker_outages and not invalid
        unchanged = code_fingerprint() == code
        if not unchanged:
            log("WARNING: the code changed while the run went on: it measured no single tree")
        if bench.broker_outages:
            log("WARNING: RabbitMQ went down during this run; its figures are not comparable")
        results = report.assemble(args=args, machine=machine, storage=system.storage, ceiling=ceiling,
                                  opened=opened, broker=broker, half=propagation, lists=lists, cost=cost,
                                  open_loads=open_loads, idle=idle,
                                  setup=bench.results["setup"], gunicorn=gunicorn_env(args), started=started,
                                  phases=verdicts, profile=profile,
                                  provenance=provenance(passed=valid and unchanged, storage_used=system.storage))
        results["broker_down_during"] = bench.results.get("broker_down_during", [])
        results["invalid_phases"] = invalid
        results["code_changed_during_run"] = not unchanged
        results["valid"] = valid
    except BaseException:
        for name in system.processes:
            print(f"--- {name} (last lines) ---\n{system.tail(name, 15)}", file=sys.stderr)
        raise
    finally:
        bench.close()
        system.dispose(wait_for_broker=300)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


async def run_sweep(args) -> dict:
    """Try gunicorn configurations: the saturation of the bare app and of the
    real endpoint for each, on a fresh system each time. Records whether the
    machine was quiet meanwhile (``bench.cpu.quietness``)."""
    mongo = mongo_urls()
    code = code_fingerprint()
    quiet_wait = wait_quiet(args.wait_quiet, args.quiet_load) if args.wait_quiet else None
    runs_at_start, load_at_start = test_runs(), loadavg()
    broker_up(os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/")
    rows, phase_cpu, storage, generator = [], {}, None, None
    for spec in args.sweep.split(","):
        kind, _, size = spec.partition(":")
        workers, _, threads = size.partition("x")
        args.worker_class, args.workers, args.threads = kind, int(workers), int(threads or 1)
        log(f"sweep: {spec}")
        system, workdir, bare_port = start_system(mongo, gunicorn_env(args))
        storage = system.storage
        bench = Bench(system, args)
        generator = bench.generator_name
        try:
            await bench.setup()
            ceiling = await bench.saturate("ceiling", bare_port)
            opened = await bench.saturate("open", bench.port["apertura"])
            rest = await bench.wait_drained()
            drain = opened["backlog_drain_s"] if opened["backlog_drain_s"] is not None else args.drain_deadline + rest
            bench.check_broker(spec)
            verdicts = {"ceiling": bench.judge_saturation("ceiling", ceiling["cpu"]),
                        "open": bench.judge_saturation("open", opened["cpu"])}
            invalid = report_verdicts(verdicts)
            phase_cpu.update({f"{spec} ceiling": ceiling["cpu"], f"{spec} open": opened["cpu"]})
            rows.append({"config": spec, **gunicorn_env(args), "valid": not bench.broker_outages and not invalid,
                         "invalid_phases": invalid, "broker_went_down": bool(bench.broker_outages),
                         "others_cores": max(ceiling["cpu"]["others_cores"], opened["cpu"]["others_cores"]),
                         "ceiling_rps": ceiling["rps"], "ceiling_p99_ms": ceiling["p99_ms"],
                         "ceiling_concurrency": ceiling["concurrency"],
                         "open_rps": opened["rps"], "open_p50_ms": opened["p50_ms"], "open_p99_ms": opened["p99_ms"],
                         "open_concurrency": opened["concurrency"], "drain_s": round(drain, 1),
                         "open_vs_ceiling": ratio(opened["rps"], ceiling["rps"]),
                         "phases": verdicts, "loadavg_at_end": loadavg()})
        finally:
            bench.close()
            system.dispose(wait_for_broker=300)
            shutil.rmtree(workdir, ignore_errors=True)
        if args.sweep_partial:
            Path(args.sweep_partial).write_text(json.dumps(rows, indent=2))
    valid = all(row["valid"] for row in rows)
    unchanged = code_fingerprint() == code
    if not unchanged:
        log("WARNING: the code changed while the sweep went on: it measured no single tree")
    return {"sweep": rows, "command": "python -m bench " + " ".join(args.argv), "load_generator": generator,
            "cpu_count": os.cpu_count(), "quiet_wait": quiet_wait,
            "quiet": quietness(phase_cpu, limit=args.quiet_others,
                               test_runs={"at_start": runs_at_start, "at_end": test_runs()}),
            "loadavg_at_start": load_at_start, "loadavg_at_end": loadavg(),
            "settings": {"duration_s": args.duration, "ramp_step_s": args.ramp_step, "levels": args.levels,
                         "customers": args.customers, "quick": bool(args.quick), "smoke": bool(args.smoke)},
            "valid": valid, "code_changed_during_run": not unchanged,
            "provenance": provenance(passed=valid and unchanged, storage_used=storage)}


async def run_search(args) -> dict:
    """Only the list phase, for the searches next to the plain lists
    (``--search``): a system, a few accounts, the stores filled to each
    ``--list-sizes``, every list and search asked ``--list-requests`` times
    on one connection. Writes ``search.json``."""
    mongo = mongo_urls()
    code = code_fingerprint()
    quiet_wait = wait_quiet(args.wait_quiet, args.quiet_load) if args.wait_quiet else None
    runs_at_start, load_at_start = test_runs(), loadavg()
    broker_up(os.environ.get("AMQP_URL") or "amqp://guest:guest@localhost:5672/")
    system, workdir, bare_port = start_system(mongo, gunicorn_env(args))
    bench = Bench(system, args)
    try:
        await bench.setup()
        log("list endpoints and searches with large stores")
        lists = await bench.lists(bare_port)
        phase_cpu = {f"lists_{size}": data["cpu"] for size, data in lists.items()}
        verdicts = {name: whole_system(cpu) for name, cpu in phase_cpu.items()}
        invalid = report_verdicts(verdicts)
        storage = system.storage
    finally:
        bench.close()
        system.dispose(wait_for_broker=300)
        shutil.rmtree(workdir, ignore_errors=True)
    unchanged = code_fingerprint() == code
    if not unchanged:
        log("WARNING: the code changed while the run went on: it measured no single tree")
    valid = not bench.broker_outages and not invalid
    return report.search_results(
        lists, command="python -m bench " + " ".join(args.argv), valid=valid, invalid_phases=invalid, phases=verdicts,
        quiet=quietness(phase_cpu, limit=args.quiet_others, test_runs={"at_start": runs_at_start,
                                                                        "at_end": test_runs()}),
        machine={"cpu_count": os.cpu_count(), "quiet_wait": quiet_wait, "loadavg_at_start": load_at_start,
                 "loadavg_at_end": loadavg()},
        settings={"list_sizes": args.list_sizes, "list_requests": args.list_requests, "customers": args.customers},
        code_changed_during_run=not unchanged,
        provenance=provenance(passed=valid and unchanged, storage_used=storage))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: shorter phases, fewer accounts, smaller stores")
    parser.add_argument("--smoke", action="store_true", help="tiny run that checks the benchmark works (~40 s)")
    parser.add_argument("--duration", type=float, help="seconds of the steady saturation runs (default 20; quick 6)")
    parser.add_argument("--ramp-step", type=float, help="seconds per concurrency level of the ramp (default 4; quick 2)")
    parser.add_argument("--levels", default="1,2,4,8,16,32", help="concurrency levels of the ramp")
    parser.add_argument("--half-duration", "--propagation-duration", dest="half_duration", type=float,
                        help="seconds of the propagation phase (default 60; quick 15)")
    parser.add_argument("--load-fraction", "--half-fraction", dest="half_fraction", type=float, default=0.8,
                        help="the propagation and cost phases' load, as a fraction of the sustained rate (the "
                             "smaller of accepted and assigned per second at saturation); default 0.8")
    parser.add_argument("--half-rate", type=float,
                        help="opens/s of the propagation and cost phases instead of the fraction of the sustained "
                             "rate (to compare two versions at the same load)")
    parser.add_argument("--probe-rate", type=float, default=10.0,
                        help="incidents followed per second in the propagation and open-load phases")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="how often a followed incident is polled")
    parser.add_argument("--cost-duration", type=float, help="seconds of the CPU-cost phase (default 15; quick 6)")
    parser.add_argument("--customers", type=int, help="customers signed up through the API (default 300; quick 60)")
    parser.add_argument("--signup-parallel", type=int, default=4)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--list-sizes", help="incidents stored for the list measurements (default 10000,100000)")
    parser.add_argument("--list-requests", type=int, help="requests per list endpoint and size (default 300; quick 100)")
    parser.add_argument("--fixture-customers", type=int, default=2000)
    parser.add_argument("--own-incidents", type=int, default=30,
                        help="incidents the measured customer opens before the list measurements")
    parser.add_argument("--open-loads", help="open (assigned, unresolved) incidents held by the open-load agents at "
                                              "each level (default 0,10000,100000; quick 0,5000,20000)")
    parser.add_argument("--open-load-agents", type=int, help="agents who hold the open load (default 20; smoke 4)")
    parser.add_argument("--open-load-rate", type=float,
                        help="opens/s of every open-load level instead of --open-load-fraction of a short probe's "
                             "sustained rate")
    parser.add_argument("--open-load-fraction", type=float, default=0.5,
                        help="the open-load levels' rate, as a fraction of the probe's sustained rate")
    parser.add_argument("--open-load-probe", type=float, help="seconds of that probe (default 2; smoke 1)")
    parser.add_argument("--open-load-duration", type=float,
                        help="seconds of opens at each open-load level (default 15; quick 6)")
    parser.add_argument("--idle-seconds", type=float, help="seconds the idle system is measured (default 60; quick 15)")
    parser.add_argument("--drain-deadline", type=float, default=120.0,
                        help="seconds the saturation's backlog may take to drain before the phase is invalid")
    parser.add_argument("--drain-poll-ms", type=float, default=25.0, help="how often the backlog is counted")
    parser.add_argument("--broker-seconds", type=float, default=5.0)
    parser.add_argument("--broker-messages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)),
                        help="gunicorn workers per service (WEB_CONCURRENCY)")
    parser.add_argument("--worker-class", default=os.environ.get("GUNICORN_WORKER_CLASS", "sync"),
                        choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 1)))
    parser.add_argument("--sweep", nargs="?", const=DEFAULT_SWEEP, metavar="CONFIGS",
                        help="try gunicorn configurations instead (writes sweep.json and the README's sweep "
                             f"section); default {DEFAULT_SWEEP}")
    parser.add_argument("--search", action="store_true",
                        help="only the lists and searches at --list-sizes stored incidents (writes search.json and "
                             "the README's search section)")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator of the saturation runs: wrk (Debian's wrk package), bench.loadgen "
                             "(python), or wrk when installed (auto)")
    parser.add_argument("--sweep-partial", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="also record py-spy profiles (needs py-spy)")
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait (at most SECONDS) for no pytest process and a low load average")
    parser.add_argument("--quiet-load", type=float, default=1.5)
    parser.add_argument("--quiet-others", type=float, default=QUIET_OTHERS_CORES, metavar="CORES",
                        help="the run is recorded as quiet when no phase saw more CPU than this taken by "
                             "processes outside the benchmark")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks"), help="where results go")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="measure nothing: print the table and redraw the README section (and chart) of a "
                             "results.json or a sweep.json")
    parser.add_argument("--label", default="", help="a name for this run in the results")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.generator == "auto":
        args.generator = "wrk" if wrk_available() else "python"
        if args.generator == "python" and not args.render:
            print("wrk is not installed (apt-get install wrk): the saturation runs use bench.loadgen, whose own CPU "
                  "may limit them; every phase is checked for that")
    elif args.generator == "wrk" and not wrk_available():
        parser.error("--generator wrk: wrk is not installed (apt-get install wrk)")
    quick = args.quick or args.smoke
    defaults = {
        "duration": 6 if quick else 20, "ramp_step": 2 if quick else 4, "half_duration": 15 if quick else 60,
        "customers": 60 if quick else 300, "cost_duration": 6 if quick else 15, "list_sizes": "10000,100000" if not args.smoke else "2000",
        "list_requests": 100 if quick else 300,
        "open_loads": "0,5000,20000" if quick else "0,10000,100000", "open_load_probe": 2.0,
        "open_load_duration": 6 if quick else 15, "idle_seconds": 15 if quick else 60, "open_load_agents": 20,
    }
    if args.search:
        defaults.update(customers=12)  # the lists' callers only: no load phase needs the rest
    if args.smoke:
        defaults.update(duration=3, ramp_step=1.5, half_duration=6, cost_duration=3, customers=12, list_requests=30,
                        open_loads="0,300,1000", open_load_probe=1.0, open_load_duration=3, idle_seconds=5,
                        open_load_agents=4)
        args.levels = "2,8"
        args.broker_seconds, args.broker_messages = 1.0, 50
        args.fixture_customers = 200
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.list_sizes = [int(x) for x in str(args.list_sizes).split(",")]
    args.open_loads = [int(x) for x in str(args.open_loads).split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.output)
    if args.render:
        # The README renders only files beside it: a results file from elsewhere is copied there.
        source = Path(args.render).resolve()
        results = json.loads(source.read_text())
        out.mkdir(parents=True, exist_ok=True)
        if "sweep" in results:
            print(report.sweep_table(results))
            report.write_sweep(results, out, rewrite_json=source != (out / "sweep.json").resolve())
            return 0
        if "search" in results:
            print(report.search_table(results))
            report.write_search(results, out, rewrite_json=source != (out / "search.json").resolve())
            return 0
        print(report.table(results))
        report.write(results, out, rewrite_json=source != (out / "results.json").resolve())
        return 0
    if args.sweep:
        results = asyncio.run(run_sweep(args))
        print(report.sweep_table(results))
        if not args.no_write:
            out.mkdir(parents=True, exist_ok=True)
            report.write_sweep(results, out)
            log(f"wrote {out / 'sweep.json'}")
        return 0
    if args.search:
        results = asyncio.run(run_search(args))
        print(report.search_table(results))
        if not args.no_write:
            out.mkdir(parents=True, exist_ok=True)
            report.write_search(results, out)
            log(f"wrote {out / 'search.json'}")
        return 0
    results = asyncio.run(run_main(args))
    print(report.table(results))
    if not args.no_write:
        out.mkdir(parents=True, exist_ok=True)
        report.write(results, out)
        log(f"wrote {out / 'results.json'} and {out / 'chart.png'}")
    return 0
