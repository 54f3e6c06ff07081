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
4. ceiling HTTP: closed-loop ramp on the bare ``POST /incidencias``, then a
   steady run at its saturation point, driven by wrk when it is installed
   (``bench.wrk``: the generator must not take the CPU the server needs);
5. the real ``POST /incidencias``: the same ramp and steady run, same generator;
6. drain, then the raw pika publish -> consume ceiling on the same broker;
7. half load: open incidents at 50 % of the measured saturation rate; a
   sample of them ("probes") is followed by polling the customer API until
   it shows ``asignada``, then resolved by its agent and followed until the
   customer sees ``resuelta``;
8. cost: CPU per incident, end to end, at half load;
9. optional profiling pass (``--profile``, py-spy).

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


def register_agents(driver: Driver, count: int) -> list[Account]:
    admin = driver.admin_token()
    return [driver.new_empleado("agente", [], f"Agente{n}", admin_token=admin, apellidos="Bench",
                                email=f"agente.{RUN}.{n}@bench.example.com", password=PASSWORD)
            for n in range(count)]


# -- the scenario ----------------------------------------------------------------
class Bench:
    def __init__(self, system: BenchSystem, args: argparse.Namespace):
        self.system = system
        self.args = args
        self.port = {name: int(url.rsplit(":", 1)[1]) for name, url in system.urls.items()}
        self.customers: list[Account] = []
        self.agents: list[Account] = []
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
                    "statuses": run.statuses, "window_s": round(run.window, 1)}
        sample = await closed_loop(port, self.open_request(port), concurrency, duration, warmup=0.0, expect=201)
        return {"rps": round(sample.rate, 1), **summary_ms(sample.latencies), "requests": sample.ok,
                "errors": sample.errors, "statuses": sample.statuses, "window_s": round(sample.window, 1)}

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
        CPU is measured: the generator's share says whether it limited it."""
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
        result = {"concurrency": chosen, **measured, "cpu": cpu.result, "ramp": ramp}
        if label == "open":
            result["assigned_visible_during_window"] = self.count("apertura", "asignada") - visible_before
            result["assigned_counted_over_s"] = round(time.monotonic() - counted_from, 2)
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

    async def half_load(self, open_rps: float) -> dict:
        args = self.args
        rate = args.half_rate or max(1.0, open_rps * args.half_fraction)
        probe_every = max(1, round(rate / args.probe_rate))
        aport, rport = self.port["apertura"], self.port["resolucion"]
        pool = Pool(aport, 256)
        rpool = Pool(rport, 64)
        agent_tokens = {a.id: a.token for a in self.agents}
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

        log(f"half load: {rate:.1f} opens/s for {args.half_duration:.0f}s, one in {probe_every} followed "
            f"(polling every {args.poll_ms:g} ms)")
        with CpuMeter(self.system, "bench.loadgen (asyncio, open loop)") as cpu:
            started, skipped = await open_loop(rate, args.half_duration, job)
        pool.close()
        rpool.close()
        opens.window = args.half_duration

        def pick(key: str) -> list[float]:
            return [p[key] for p in probes if key in p]

        result = {
            "target_rps": round(rate, 1), "achieved_rps": round(opens.rate, 1), "fraction": args.half_fraction,
            "opens": {**summary_ms(opens.latencies), "statuses": opens.statuses, "errors": opens.errors,
                      "skipped": skipped},
            "probes": len(probes), "probe_every": probe_every, "poll_ms": args.poll_ms, "polls": polls["n"],
            "failures": failures,
            "open_to_assigned": summary_ms(pick("open_to_assigned")),
            "resolved_visible": summary_ms(pick("resolved_visible")),
            "breakdown": {key: summary_ms(pick(key)) for key in (
                "created_to_answer", "created_to_assigned", "assigned_to_visible",
                "resolve_request", "resolved_to_visible")},
            "cpu": cpu.result,
        }
        log(f"  open->assigned p50 {result['open_to_assigned']['p50_ms']} ms p99 "
            f"{result['open_to_assigned']['p99_ms']} ms; resolved visible p50 "
            f"{result['resolved_visible']['p50_ms']} ms p99 {result['resolved_visible']['p99_ms']} ms "
            f"({len(probes)} probes, {failures or 'no failures'})")
        return result

    async def cost(self, rate: float, ceiling: dict) -> dict:
        """CPU spent per incident by each process, end to end: opens at
        ``rate`` (no probes, no polling) and the CPU is counted until the
        last one is assigned and visible to its customer."""
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
        n = max(opened.ok, 1)
        per_incident = {name: round(1000 * v / n, 2) for name, v in cpu.seconds.items()}
        bare_seconds = ceiling["cpu"]["by_process_cores"].get("bare", 0) * ceiling["cpu"]["wall_s"]
        bare_per_request = round(1000 * bare_seconds / max(ceiling["requests"], 1), 3)
        # The services' own processes; the load generator and RabbitMQ are reported beside them.
        total = round(sum(v for k, v in per_incident.items() if k not in ("load_generator", "rabbitmq")), 2)
        result = {"incidents": opened.ok, "cpu_ms_per_incident": per_incident,
                  "system_cpu_ms_per_incident": total, "bare_cpu_ms_per_request": bare_per_request,
                  "cpu": cpu.result,
                  "cpu_bound_rps": round(1000 * (os.cpu_count() or 1) / total, 1) if total else None}
        log(f"  {total} ms of CPU per incident end to end (bare request: {bare_per_request} ms): "
            + ", ".join(f"{k} {v}" for k, v in sorted(per_incident.items(), key=lambda kv: -kv[1])))
        return result

    async def lists(self, bare_port: int) -> dict:
        from .fixtures import fill
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
        results = {}
        for size in args.list_sizes:
            have = self.count("apertura")
            if have < size:
                start = time.monotonic()
                written = fill(self.system.storage_url("apertura"), self.system.storage_url("resolucion"),
                               size - have, fixture_customers, fixture_agents)
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
        from .fixtures import remove

        removed = remove(self.system.storage_url("apertura"), self.system.storage_url("resolucion"))
        log(f"  removed the {removed} fixture documents again")
        return results

    async def profile(self, out: Path, bare_port: int, concurrency: int, half_rps: float) -> dict:
        from .profile import record

        args = self.args
        log(f"profiling: py-spy on incidencias_apertura's gunicorn for {args.profile_seconds:.0f}s at c={concurrency}")
        targets = {"open": self.system.processes["apertura"].pid}
        recording = record(targets, args.profile_seconds, out, subprocesses=True)
        await closed_loop(self.port["apertura"], self.open_request(self.port["apertura"]), concurrency,
                          args.profile_seconds + 1, warmup=0.5)
        summaries = recording.finish()
        await self.wait_drained()
        log(f"profiling: py-spy on both incident workers during {args.profile_seconds:.0f}s at half load")
        targets = {"apertura-worker": self.system.processes["apertura_worker"].pid,
                   "resolucion-worker": self.system.processes["resolucion_worker"].pid,
                   "resolucion-web": self.system.processes["resolucion"].pid}
        recording = record(targets, args.profile_seconds, out, subprocesses=True)
        saved = args.half_duration
        args.half_duration = args.profile_seconds
        try:
            await self.half_load(half_rps / args.half_fraction)
        finally:
            args.half_duration = saved
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
        log("ceiling: bare Flask POST /incidencias under the same gunicorn settings")
        ceiling = await bench.saturate("ceiling", bare_port)
        log("POST /incidencias at saturation")
        bench.check_broker("before saturation")
        opened = await bench.saturate("open", bench.port["apertura"])
        bench.check_broker("saturation")
        drain = await bench.wait_drained()
        log(f"  backlog drained {drain:.1f}s after the load stopped")
        opened["drain_after_load_s"] = round(drain, 1)
        broker = bench.broker_ceiling()
        half = await bench.half_load(opened["rps"])
        bench.check_broker("half load")
        await bench.wait_drained()
        cost = await bench.cost(half["target_rps"], ceiling)
        bench.check_broker("cost")
        phase_cpu = {**{f"lists_{size}": data["cpu"] for size, data in lists.items()},
                     "ceiling": ceiling["cpu"], "open": opened["cpu"], "broker": broker["cpu"],
                     "half_load": half["cpu"], "cost": cost["cpu"]}
        verdicts = {name: whole_system(cpu) for name, cpu in phase_cpu.items()}
        verdicts["ceiling"] = bench.judge_saturation("ceiling", ceiling["cpu"])
        verdicts["open"] = bench.judge_saturation("open", opened["cpu"])
        verdicts["broker"] = judge(broker["cpu"], server_cores=broker["cpu"]["broker_cores"],
                                   capacity=broker["cpu"]["cores"])
        invalid = report_verdicts(verdicts)
        machine["loadavg_at_end"] = loadavg()
        machine["quiet"] = quietness(phase_cpu, limit=args.quiet_others,
                                     test_runs={"at_start": runs_at_start, "at_end": test_runs()})
        profile = None
        if args.profile:
            profile = await bench.profile(Path(args.output), bare_port, opened["concurrency"], half["target_rps"])
        valid = not bench.broker_outages and not invalid
        unchanged = code_fingerprint() == code
        if not unchanged:
            log("WARNING: the code changed while the run went on: it measured no single tree")
        if bench.broker_outages:
            log("WARNING: RabbitMQ went down during this run; its figures are not comparable")
        results = report.assemble(args=args, machine=machine, storage=system.storage, ceiling=ceiling,
                                  opened=opened, broker=broker, half=half, lists=lists, cost=cost,
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
            drain = await bench.wait_drained()
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: shorter phases, fewer accounts, smaller stores")
    parser.add_argument("--smoke", action="store_true", help="tiny run that checks the benchmark works (~40 s)")
    parser.add_argument("--duration", type=float, help="seconds of the steady saturation runs (default 20; quick 6)")
    parser.add_argument("--ramp-step", type=float, help="seconds per concurrency level of the ramp (default 4; quick 2)")
    parser.add_argument("--levels", default="1,2,4,8,16,32", help="concurrency levels of the ramp")
    parser.add_argument("--half-duration", type=float, help="seconds of the half-load phase (default 60; quick 15)")
    parser.add_argument("--half-fraction", type=float, default=0.5, help="the half load, as a fraction of saturation")
    parser.add_argument("--half-rate", type=float,
                        help="opens/s of the half-load and cost phases instead of half the measured saturation "
                             "(to compare two versions at the same load)")
    parser.add_argument("--probe-rate", type=float, default=10.0, help="incidents followed per second at half load")
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
    }
    if args.smoke:
        defaults.update(duration=3, ramp_step=1.5, half_duration=6, cost_duration=3, customers=12, list_requests=30)
        args.levels = "2,8"
        args.broker_seconds, args.broker_messages = 1.0, 50
        args.fixture_customers = 200
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.levels = [int(x) for x in str(args.levels).split(",")]
    args.list_sizes = [int(x) for x in str(args.list_sizes).split(",")]
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
    results = asyncio.run(run_main(args))
    print(report.table(results))
    if not args.no_write:
        out.mkdir(parents=True, exist_ok=True)
        report.write(results, out)
        log(f"wrote {out / 'results.json'} and {out / 'chart.png'}")
    return 0
