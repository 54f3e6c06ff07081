"""The benchmark's outputs: the stdout table, results.json, the PNG chart and
the results section of docs/benchmarks/README.md (between markers)."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .stats import ratio

TARGETS = {"open_vs_ceiling": 0.5, "open_to_assigned_p50_ms": 25.0, "open_to_assigned_p99_ms": 100.0}
REAL_LISTS = ("customer_list", "agent_queue", "staff_waiting", "staff_all")
# The portal's page that wraps each API list, compared with it (time to first byte).
PORTAL_PAGES = {"portal_customer_list": "customer_list", "portal_agent_queue": "agent_queue",
                "portal_live_poll": "customer_list"}
START, END = "<!-- results:start -->", "<!-- results:end -->"
SWEEP_START, SWEEP_END = "<!-- sweep:start -->", "<!-- sweep:end -->"
# The phases in the order they run, with what each one's server is.
PHASE_NAMES = {"ceiling": "ceiling (bare app, saturation)", "open": "POST /incidencias at saturation",
               "broker": "raw pika publish -> consume", "half_load": "half load (propagation)",
               "cost": "cost (CPU per incident)"}


def _size_key(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def assemble(*, args, machine, storage, ceiling, opened, broker, half, lists, cost, setup, gunicorn, started,
             phases, provenance, profile=None) -> dict:
    hop_p50, hop_p99 = broker["latency"]["p50_ms"], broker["latency"]["p99_ms"]
    floor_p50, floor_p99 = 2 * hop_p50, 2 * hop_p99
    o2a, rv = half["open_to_assigned"], half["resolved_visible"]
    bare_get = {}
    list_fields = {}
    for size, data in lists.items():
        key = _size_key(int(size))
        endpoints = data["endpoints"]
        bare_get[key] = endpoints["bare_get"]
        worst = max(REAL_LISTS, key=lambda n: endpoints[n]["p99_ms"])
        list_fields[f"list_p50_ms_{key}"] = endpoints["customer_list"]["p50_ms"]
        list_fields[f"list_p99_ms_{key}"] = endpoints[worst]["p99_ms"]
        list_fields[f"list_p99_ms_{key}_endpoint"] = worst
        list_fields[f"list_p99_ms_{key}_vs_bare_get"] = ratio(endpoints[worst]["p99_ms"],
                                                              endpoints["bare_get"]["p99_ms"], 1)
        for name in REAL_LISTS:
            list_fields[f"{name}_p99_ms_{key}"] = endpoints[name]["p99_ms"]
        for page in PORTAL_PAGES:
            if page in endpoints:
                list_fields[f"{page}_ttfb_p50_ms_{key}"] = endpoints[page]["p50_ms"]
                list_fields[f"{page}_ttfb_p99_ms_{key}"] = endpoints[page]["p99_ms"]
    assigned_rps = opened.get("assigned_visible_during_window", 0) / opened["assigned_counted_over_s"]
    results = {
        "label": args.label or None,
        "provenance": provenance,
        "storage": storage,
        "cpu_count": os.cpu_count(),
        "open_rps": opened["rps"],
        "ceiling_rps": ceiling["rps"],
        "open_vs_ceiling": ratio(opened["rps"], ceiling["rps"]),
        "open_p50_ms": opened["p50_ms"],
        "open_p99_ms": opened["p99_ms"],
        "ceiling_p50_ms": ceiling["p50_ms"],
        "ceiling_p99_ms": ceiling["p99_ms"],
        "open_p99_vs_ceiling": ratio(opened["p99_ms"], ceiling["p99_ms"], 1),
        "half_load_rps": half["achieved_rps"],
        "open_to_assigned_p50_ms": o2a["p50_ms"],
        "open_to_assigned_p99_ms": o2a["p99_ms"],
        "resolved_visible_p50_ms": rv["p50_ms"],
        "resolved_visible_p99_ms": rv["p99_ms"],
        "broker_rps": broker["publish_consume_rate"],
        "broker_latency_p50_ms": hop_p50,
        "broker_latency_p99_ms": hop_p99,
        "two_hop_floor_p50_ms": round(floor_p50, 2),
        "two_hop_floor_p99_ms": round(floor_p99, 2),
        "open_to_assigned_p50_vs_floor": ratio(o2a["p50_ms"], floor_p50, 1),
        "open_to_assigned_p99_vs_floor": ratio(o2a["p99_ms"], floor_p99, 1),
        "resolved_visible_p50_vs_floor": ratio(rv["p50_ms"], floor_p50, 1),
        "resolved_visible_p99_vs_floor": ratio(rv["p99_ms"], floor_p99, 1),
        "assigned_rps_at_saturation": round(assigned_rps, 1),
        "assigned_rps_vs_broker": ratio(assigned_rps, broker["publish_consume_rate"]),
        "system_cpu_ms_per_incident": cost["system_cpu_ms_per_incident"],
        "bare_cpu_ms_per_request": cost["bare_cpu_ms_per_request"],
        "cpu_bound_rps": cost["cpu_bound_rps"],
        **list_fields,
        "bare_get": bare_get,
        "targets": {
            "open_vs_ceiling_min": TARGETS["open_vs_ceiling"],
            "open_to_assigned_p50_ms_max": TARGETS["open_to_assigned_p50_ms"],
            "open_to_assigned_p99_ms_max": TARGETS["open_to_assigned_p99_ms"],
            "met": {
                "open_vs_ceiling": (ratio(opened["rps"], ceiling["rps"]) or 0) >= TARGETS["open_vs_ceiling"],
                "open_to_assigned_p50": (o2a["p50_ms"] or 1e9) <= TARGETS["open_to_assigned_p50_ms"],
                "open_to_assigned_p99": (o2a["p99_ms"] or 1e9) <= TARGETS["open_to_assigned_p99_ms"],
            },
        },
        "gunicorn": gunicorn,
        "machine": {**machine, "python": platform.python_version(), "platform": platform.platform()},
        "duration_s": round(time.time() - started),
        "phases": phases,
        "settings": {
            "duration_s": args.duration, "ramp_step_s": args.ramp_step, "levels": args.levels,
            "half_duration_s": args.half_duration, "probe_rate": args.probe_rate, "poll_ms": args.poll_ms,
            "customers": args.customers, "agents": args.agents, "list_requests": args.list_requests,
            "quick": bool(args.quick), "smoke": bool(args.smoke), "generator": args.generator,
            "command": "python -m bench " + " ".join(args.argv),
        },
        "setup": setup,
        "detail": {"ceiling": ceiling, "open": opened, "broker": broker, "half_load": half, "cost": cost,
                   "lists": lists},
    }
    if profile:
        results["profile"] = profile
    return results


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, ceiling, ratio) rows shared by the table and the README."""
    out = [
        ("open incidents at saturation", _fmt(r["open_rps"], " req/s"), _fmt(r["ceiling_rps"], " req/s"),
         _fmt(r["open_vs_ceiling"])),
        ("  latency p50 at saturation", _fmt(r["open_p50_ms"], " ms"), _fmt(r["ceiling_p50_ms"], " ms"),
         _fmt(ratio(r["open_p50_ms"], r["ceiling_p50_ms"], 1))),
        ("  latency p99 at saturation", _fmt(r["open_p99_ms"], " ms"), _fmt(r["ceiling_p99_ms"], " ms"),
         _fmt(r["open_p99_vs_ceiling"])),
        ("assigned (visible) during saturation", _fmt(r["assigned_rps_at_saturation"], " /s"),
         _fmt(r["broker_rps"], " msg/s"), _fmt(r["assigned_rps_vs_broker"])),
        (f"open -> asignada visible p50 @ {_fmt(r['half_load_rps'])}/s", _fmt(r["open_to_assigned_p50_ms"], " ms"),
         _fmt(r["two_hop_floor_p50_ms"], " ms"), _fmt(r["open_to_assigned_p50_vs_floor"])),
        ("open -> asignada visible p99", _fmt(r["open_to_assigned_p99_ms"], " ms"),
         _fmt(r["two_hop_floor_p99_ms"], " ms"), _fmt(r["open_to_assigned_p99_vs_floor"])),
        ("resolve -> resuelta visible p50", _fmt(r["resolved_visible_p50_ms"], " ms"),
         _fmt(r["two_hop_floor_p50_ms"], " ms"), _fmt(r["resolved_visible_p50_vs_floor"])),
        ("resolve -> resuelta visible p99", _fmt(r["resolved_visible_p99_ms"], " ms"),
         _fmt(r["two_hop_floor_p99_ms"], " ms"), _fmt(r["resolved_visible_p99_vs_floor"])),
    ]
    out.append(("CPU per incident, end to end", _fmt(r["system_cpu_ms_per_incident"], " ms"),
                _fmt(r["bare_cpu_ms_per_request"], " ms"),
                _fmt(ratio(r["system_cpu_ms_per_incident"], r["bare_cpu_ms_per_request"], 1))))
    lists = r["detail"]["lists"]
    for size, data in lists.items():
        key = _size_key(int(size))
        bare = data["endpoints"]["bare_get"]
        for name in REAL_LISTS:
            v = data["endpoints"][name]
            out.append((f"{name} p50/p99 @ {int(size):,} stored", f"{_fmt(v['p50_ms'])}/{_fmt(v['p99_ms'], ' ms')}",
                        f"{_fmt(bare['p50_ms'])}/{_fmt(bare['p99_ms'], ' ms')}",
                        _fmt(ratio(v["p99_ms"], bare["p99_ms"], 1))))
        for page, wrapped in PORTAL_PAGES.items():
            if page in data["endpoints"]:
                v, api = data["endpoints"][page], data["endpoints"][wrapped]
                out.append((f"{page} TTFB p50/p99 @ {int(size):,} (vs API)",
                            f"{_fmt(v['p50_ms'])}/{_fmt(v['p99_ms'], ' ms')}",
                            f"{_fmt(api['p50_ms'])}/{_fmt(api['p99_ms'], ' ms')}",
                            _fmt(ratio(v["p99_ms"], api["p99_ms"], 1))))
        del key
    return out


def stamp(r: dict) -> dict:
    """A results file's provenance; for a file written before runs carried
    one, what it said of itself (``recorded`` False)."""
    if r.get("provenance"):
        return {**r["provenance"], "recorded": True}
    return {"commit": r.get("commit"), "code_changed": None, "changed_files": [], "storage": r.get("storage"),
            "date": r.get("measured_at"), "passed": None, "recorded": False}


def stamp_line(r: dict, markdown: bool = True) -> str:
    s = stamp(r)
    code = (lambda text: f"`{text}`") if markdown else str
    bold = (lambda text: f"**{text}**") if markdown else str
    if not s["recorded"]:
        named = f"it names commit {code(s['commit'])} itself" if s["commit"] else "it names no commit"
        return (bold("An earlier run, without provenance") + f": measured {s['date']}, {named}; whether its "
                "working tree differed in code and whether its checks held were not recorded, so its figures "
                "stand for no particular code")
    tree = {False: "no code changes in the working tree",
            True: "the working tree differed in code: " + ", ".join(code(f) for f in s.get("changed_files") or [])
            + (" and maybe more" if len(s.get("changed_files") or []) >= 20 else ""),
            None: "whether the working tree differed in code is unknown"}[s["code_changed"]]
    return (f"Commit {code(s['commit'])} ({tree}), measured {s['date']}, storage {bold(s['storage'])}: "
            + (bold("passed") + " (the run completed and its checks held)" if s["passed"]
               else bold("did not pass") + " (see the warnings): these figures stand for nothing"))


def warnings(r: dict) -> list[str]:
    """Every check of a results file (or a sweep file) that failed, in words."""
    out = [f"configuration {row['config']} does not stand" for row in r.get("sweep", []) if not row.get("valid", True)]
    if r.get("broker_down_during"):
        out.append(f"RabbitMQ went down during {', '.join(r['broker_down_during'])}: figures not comparable")
    for name in r.get("invalid_phases", []):
        out.append(f"phase {phase_label(name)} is invalid: {r['phases'][name]['why']}")
    if r.get("code_changed_during_run"):
        out.append("the code changed while the run went on: it measured no single tree")
    return out


def phase_label(name: str) -> str:
    if name.startswith("lists_"):
        return f"lists, {int(name.removeprefix('lists_')):,} stored"
    return PHASE_NAMES.get(name, name)


PHASE_HEAD = ("phase", "load generator", "generator, busiest thread", "its thread runnable", "generator, all",
              "server / can use", "RabbitMQ", "others", "machine busy", "limited by", "valid")


def phase_rows(phases: dict) -> list[tuple[str, ...]]:
    """One row per phase: where the CPU went (cores) and whether the phase stands."""
    out = []
    for name, v in phases.items():
        runnable = v.get("load_generator_busiest_thread_runnable")
        out.append((phase_label(name), v["load_generator"], _fmt(v["load_generator_busiest_thread_cores"]),
                    "—" if runnable is None else f"{100 * runnable:.0f} %", _fmt(v["load_generator_cores"]), f"{_fmt(v['server_cores'])} / {v['server_capacity_cores']:g}",
                    _fmt(v["broker_cores"]), _fmt(v["others_cores"]), f"{v['machine_busy_pct']} %",
                    v["limited_by"], "yes" if v["valid"] else f"NO: {v['why']}"))
    return out


def quiet_line(quiet: dict | None) -> str:
    if not quiet:
        return "whether the machine was quiet was not measured"
    runs = quiet.get("test_runs_seen") or {}
    return (("the machine was quiet" if quiet["quiet"] else "the machine was NOT quiet")
            + f" (the most CPU taken outside the benchmark in one phase: {quiet['others_cores_max']} cores, "
            f"stolen {quiet['steal_cores_max']}, limit {quiet['limit_cores']}; pytest processes "
            + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in runs.items()) + ")")


def table(r: dict) -> str:
    g = r["gunicorn"]
    m = r["machine"]
    head = (f"Incidencias benchmark — storage {r['storage']}, {r['cpu_count']} CPUs, gunicorn "
            f"{g['GUNICORN_WORKER_CLASS']} x{g['WEB_CONCURRENCY']}"
            f"{' x' + g['GUNICORN_THREADS'] + ' threads' if g['GUNICORN_WORKER_CLASS'] == 'gthread' else ''}, "
            f"load average at start {m['loadavg_at_start'][0]}; {quiet_line(m.get('quiet'))}\n"
            + stamp_line(r, markdown=False))
    for warning in warnings(r):
        head += f"\nWARNING: {warning}"
    lines = [head, "", f"{'figure':<44} {'value':>18} {'ceiling':>18} {'ratio':>7}", "-" * 90]
    for figure, value, ceiling, rat in rows(r):
        lines.append(f"{figure:<44} {value:>18} {ceiling:>18} {rat:>7}")
    met = r["targets"]["met"]
    lines += ["", "ceilings: bare Flask POST/GET under the same gunicorn settings; raw pika publish->consume "
              "(two-hop floor = 2 x one hop, since open->asignada crosses the broker twice)",
              f"targets: open >= 50% of ceiling: {'met' if met['open_vs_ceiling'] else 'NOT met'}; "
              f"open->asignada p50 <= 25 ms: {'met' if met['open_to_assigned_p50'] else 'NOT met'}; "
              f"p99 <= 100 ms: {'met' if met['open_to_assigned_p99'] else 'NOT met'}"]
    b = r["detail"]["half_load"]["breakdown"]
    lines.append("open->asignada breakdown (p50, server clocks): answer after create "
                 f"{b['created_to_answer']['p50_ms']} ms, assigned after create {b['created_to_assigned']['p50_ms']} ms, "
                 f"visible after assigned {b['assigned_to_visible']['p50_ms']} ms")
    lines.append("CPU ms per incident by process: " + _cost_line(r))
    if r.get("phases"):
        lines += ["", "CPU in every phase (cores):", " | ".join(PHASE_HEAD)]
        lines += [" | ".join(row) for row in phase_rows(r["phases"])]
    return "\n".join(lines)


def _cost_line(r: dict) -> str:
    cost = r["detail"]["cost"]["cpu_ms_per_incident"]
    return ", ".join(f"{k} {v}" for k, v in sorted(cost.items(), key=lambda kv: -kv[1]) if v >= 0.01) + \
        f" (the services' own processes alone, at that cost: {r['cpu_bound_rps']} incidents/s on {r['cpu_count']} cores)"


SWEEP_HEAD = ("config", "ceiling req/s", "at c", "open req/s", "ratio", "open p50 ms", "open p99 ms", "at c",
              "backlog drained s", "generator, busiest thread (ceiling / open)", "others (cores)", "valid")


def sweep_rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    for row in results["sweep"]:
        phases = row.get("phases") or {}
        generator = " / ".join(_fmt(phases[k]["load_generator_busiest_thread_cores"]) for k in ("ceiling", "open")
                               if k in phases) or "—"
        why = "; ".join(f"{k}: {phases[k]['why']}" for k in row.get("invalid_phases", []))
        if row.get("broker_went_down"):
            why = "; ".join(filter(None, [why, "RabbitMQ went down"]))
        out.append((row["config"], _fmt(row["ceiling_rps"]), _fmt(row.get("ceiling_concurrency")),
                    _fmt(row["open_rps"]), _fmt(row["open_vs_ceiling"]), _fmt(row["open_p50_ms"]),
                    _fmt(row["open_p99_ms"]), _fmt(row["open_concurrency"]), _fmt(row["drain_s"]), generator,
                    _fmt(row["others_cores"]),
                    "not checked" if not phases else "yes" if row["valid"] and not why else f"NO: {why}"))
    return out


def sweep_table(results: dict) -> str:
    lines = [stamp_line(results, markdown=False), quiet_line(results.get("quiet"))]
    lines += [f"WARNING: {warning}" for warning in warnings(results)]
    lines += ["", " | ".join(SWEEP_HEAD)]
    lines += [" | ".join(row) for row in sweep_rows(results)]
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = r["detail"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    g = r["gunicorn"]
    verdict = {True: "", False: " — DID NOT PASS", None: " — no provenance"}[stamp(r)["passed"]]
    fig.suptitle(f"Incidencias — {r['storage']}, {r['cpu_count']} CPUs, gunicorn {g['GUNICORN_WORKER_CLASS']} "
                 f"x{g['WEB_CONCURRENCY']}, {stamp(r)['date']}, commit {stamp(r)['commit']}{verdict}", fontsize=11)

    ax = axes[0][0]
    for key, label, color in (("ceiling", "bare Flask (ceiling)", "tab:gray"), ("open", "POST /incidencias", "tab:blue")):
        ramp = d[key]["ramp"]
        ax.plot([p["concurrency"] for p in ramp], [p["rps"] for p in ramp], "o-", label=label, color=color)
        ax.plot([d[key]["concurrency"]], [d[key]["rps"]], "*", markersize=14, color=color)
    ax.axhline(d["broker"]["publish_consume_rate"], linestyle=":", color="tab:orange",
               label=f"raw pika publish->consume ({d['broker']['publish_consume_rate']:.0f}/s)")
    ax.axhline(r["assigned_rps_at_saturation"], linestyle="--", color="tab:green",
               label=f"assigned & visible during saturation ({r['assigned_rps_at_saturation']:.0f}/s)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("requests / s")
    ax.set_title(f"Throughput vs ceiling: {r['open_rps']:.0f} / {r['ceiling_rps']:.0f} req/s "
                 f"= {r['open_vs_ceiling']:.2f}  (★ = saturation point)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    def bars(ax, groups, title, floor=None):
        names = list(groups)
        pcts = ("p50_ms", "p90_ms", "p99_ms")
        width = 0.25
        for i, pct in enumerate(pcts):
            values = [groups[n].get(pct) or 0 for n in names]
            positions = [x + (i - 1) * width for x in range(len(names))]
            ax.bar(positions, values, width, label=pct.replace("_ms", ""))
            for x, v in zip(positions, values):
                ax.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
        if floor:
            for value, label, style in floor:
                ax.axhline(value, linestyle=style, color="black", linewidth=0.8, label=label)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")

    bars(axes[0][1], {"bare Flask\n(ceiling)": d["ceiling"], "POST /incidencias": d["open"]},
         "Request latency at saturation")
    h = d["half_load"]
    bars(axes[1][0], {"raw pika\none hop": d["broker"]["latency"], "open -> asignada\nvisible": h["open_to_assigned"],
                      "resolve -> resuelta\nvisible": h["resolved_visible"]},
         f"Propagation at half load ({r['half_load_rps']:.0f} opens/s)",
         floor=[(25, "target p50 25 ms", "--"), (100, "target p99 100 ms", ":")])
    groups = {}
    for size, data in d["lists"].items():
        for name in ("customer_list", "agent_queue", "staff_all"):
            groups[f"{name}\n{int(size) // 1000}k"] = data["endpoints"][name]
    first = next(iter(d["lists"].values()))
    groups["bare GET\n(ceiling)"] = first["endpoints"]["bare_get"]
    bars(axes[1][1], groups, "List endpoints, page 1 of 20, unloaded")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown_table(head: tuple[str, ...], body: list[tuple[str, ...]], text: tuple[int, ...] = (0,)) -> list[str]:
    """``text``: the columns aligned left (the others hold figures)."""
    align = ["---" if i in text else "---:" for i in range(len(head))]
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]


def readme_section(r: dict) -> str:
    g = r["gunicorn"]
    m = r["machine"]
    wait = m.get("quiet_wait") or {}
    lines = [
        START,
        "Generated by `python -m bench` from [`results.json`](results.json) (and drawn in "
        "[`chart.png`](chart.png)); do not edit by hand.",
        "",
        stamp_line(r) + ".",
        "",
        f"{r['duration_s']} s, {r['cpu_count']} CPUs, gunicorn `{g['GUNICORN_WORKER_CLASS']}` × "
        f"{g['WEB_CONCURRENCY']} workers per service"
        f"{' × ' + g['GUNICORN_THREADS'] + ' threads' if g['GUNICORN_WORKER_CLASS'] == 'gthread' else ''}"
        + (f", saturation runs driven by {r['phases']['ceiling']['load_generator']}" if r.get("phases") else "")
        + f". Load average {m['loadavg_at_start'][0]} at start"
        + (f" (waited {wait.get('waited_s')} s for no test run and a low load; "
           f"{wait.get('pytest_processes')} pytest processes then)" if wait else "")
        + (f", {m['loadavg_at_end'][0]} at the end" if m.get("loadavg_at_end") else "")
        + f"; {quiet_line(m.get('quiet'))}.",
        "",
    ]
    lines += [f"**Warning: {warning}.**\n" for warning in warnings(r)]
    lines += _markdown_table(("figure", "value", "ceiling", "ratio"),
                             [(f.strip(), v, c, x) for f, v, c, x in rows(r)])
    met = r["targets"]["met"]
    b = r["detail"]["half_load"]["breakdown"]
    lines += [
        "",
        f"Targets: open ≥ 50 % of the ceiling — **{'met' if met['open_vs_ceiling'] else 'not met'}**; "
        f"open → asignada p50 ≤ 25 ms — **{'met' if met['open_to_assigned_p50'] else 'not met'}**; "
        f"p99 ≤ 100 ms — **{'met' if met['open_to_assigned_p99'] else 'not met'}**.",
        "",
        "Where open → asignada goes (p50 / p99, ms; server timestamps): "
        f"answer after create {b['created_to_answer']['p50_ms']} / {b['created_to_answer']['p99_ms']}, "
        f"assigned in resolucion after create {b['created_to_assigned']['p50_ms']} / {b['created_to_assigned']['p99_ms']}, "
        f"visible to the customer after assigned {b['assigned_to_visible']['p50_ms']} / {b['assigned_to_visible']['p99_ms']}.",
        "",
        "CPU ms per incident, end to end, by process: " + _cost_line(r) + ".",
        "",
    ]
    if r.get("phases"):
        lines += ["CPU in every phase, in cores (`phases` in `results.json`): the load generator's busiest thread "
                  "(and the share of the phase it was runnable: on a CPU or waiting for one) and all of it, the "
                  "server the phase measures against the cores it can use, RabbitMQ, and everything else on the "
                  "machine. A phase whose generator had no CPU left while its server did is invalid, and so is "
                  "a ceiling that saturated nothing.", ""]
        lines += _markdown_table(PHASE_HEAD, phase_rows(r["phases"]), text=(0, 1, 9, 10))
    else:
        lines.append("This run's phases were not checked for a load generator that limited them "
                     "(the check came later).")
    lines.append(END)
    return "\n".join(lines)


def _load_averages(results: dict) -> str:
    parts = [f"{results[key][0]} {when}" for key, when in
             (("loadavg_at_start", "at the start"), ("loadavg_at_end", "at the end")) if results.get(key)]
    return f"; load average {', '.join(parts)}" if parts else ""


def sweep_section(results: dict) -> str:
    lines = [
        SWEEP_START,
        "Generated by `python -m bench --sweep` from [`sweep.json`](sweep.json); do not edit by hand.",
        "",
        stamp_line(results) + ".",
        "",
        (f"Command: `{results['command']}`; saturation runs driven by {results.get('load_generator')}. "
         if results.get("command") else "")
        + f"{results.get('cpu_count')} CPUs; {quiet_line(results.get('quiet'))}"
        + _load_averages(results) + ".",
        "",
    ]
    lines += [f"**Warning: {warning}.**\n" for warning in warnings(results)]
    lines += _markdown_table(SWEEP_HEAD, sweep_rows(results), text=(0, 11))
    lines.append(SWEEP_END)
    return "\n".join(lines)


def _replace_section(readme: Path, start: str, end: str, section: str) -> None:
    if not readme.exists():
        return
    text = readme.read_text()
    if start not in text or end not in text:
        print(f"{readme} has no {start} ... {end} markers: its section was not rewritten")
        return
    before, rest = text.split(start, 1)
    readme.write_text(before + section + rest.split(end, 1)[1])


def write(r: dict, out: Path, rewrite_json: bool = True) -> None:
    """results.json, chart.png and the README's results section, all from ``r``."""
    if rewrite_json:
        (out / "results.json").write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n")
    try:
        chart(r, out / "chart.png")
    except ImportError:
        print("matplotlib is not installed (pip install -r requirements-bench.txt): no chart this time")
    _replace_section(out / "README.md", START, END, readme_section(r))
    if r.get("profile"):
        from .profile import write_markdown

        write_markdown(r["profile"], out / "profile.md", stamp_line(r) + ".")


def write_sweep(results: dict, out: Path, rewrite_json: bool = True) -> None:
    """sweep.json and the README's sweep section, from ``results``."""
    if rewrite_json:
        (out / "sweep.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _replace_section(out / "README.md", SWEEP_START, SWEEP_END, sweep_section(results))
