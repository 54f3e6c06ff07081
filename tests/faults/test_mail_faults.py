"""E-mail under faults: the SMTP server down under load, a server that
refuses for good, and the sending worker killed with a message on the wire.

The system sends to its own real SMTP server (``harness.mailbox``, an
aiosmtpd server the test stops, slows down or makes refuse). What the
system decided to send is read from its APIs and its ``/metrics``: every
notification apertura shows a customer is a mail it decided (mail id =
notification id), and each service's ``mails_pending``/``mails_failed``
say whether its mail outbox is empty. A mail is recognised on arrival by
its ``Message-ID``, made from the outbox id, so a mail sent twice is seen
as such."""
from __future__ import annotations

import threading
import time
from collections import Counter
from email.message import EmailMessage

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.http.metrics import MAIL_COUNTS_TTL
from harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.faults]

MAIL_SERVICES = ("clientes", "empleados", "apertura", "resolucion")
OUTAGE_S = 30.0
# Looks again every 0.5 s doubling up to 2 s (an unreachable server costs no
# try), so the mails go out within about 2 s of the server's return.
SYSTEM_ENV = {"MAIL_RETRY_BASE": "0.5", "MAIL_RETRY_MAX": "2"}
# A service's /metrics may answer with a reading of its outbox up to
# MAIL_COUNTS_TTL old (each gunicorn worker keeps its own): only an answer
# given this long after a wait began was read after it. Without this, a wait
# begun a few seconds after the last "nothing pending" could end on that old
# reading while the mails it waits for are still in the outbox.
READ_AFTER_S = MAIL_COUNTS_TTL + 1.0


def outbox_id(message: EmailMessage) -> str:
    """The outbox id a mail was sent under (the left part of its Message-ID)."""
    return str(message["Message-ID"]).strip().strip("<>").rsplit("@", 1)[0]


def mail_counts(world) -> dict[str, tuple[float, float]]:
    """Each service's (pending, failed) mails, from its /metrics."""
    counts: dict[str, tuple[float, float]] = {}
    for service in MAIL_SERVICES:
        response = world.api.call("GET", service, "/metrics")
        assert response.status_code == 200, response.text
        values = {}
        for family in text_string_to_metric_families(response.text):
            if family.name in ("mails_pending", "mails_failed", "mail_outbox_check_ok"):
                for sample in family.samples:
                    values[family.name] = sample.value
        if values.get("mail_outbox_check_ok") != 1:
            raise AssertionError(f"{service} could not read its mail outbox: {values}")
        counts[service] = (values["mails_pending"], values["mails_failed"])
    return counts


def read_after(began: float) -> bool:
    """Whether every /metrics answer from now on was read after ``began``."""
    return time.monotonic() - began >= READ_AFTER_S


def welcomed(world, clientes) -> None:
    """Until each new customer's verification mail arrived: /metrics counts
    are up to a few seconds old, so "nothing pending" alone could be read
    from before the registration."""
    for cliente in clientes:
        world.system.mailbox.wait_for(lambda m, to=cliente.email.lower(): str(m["To"]).lower() == to,
                                      timeout=60, message=f"the verification mail to {cliente.email}")


def settled(world, timeout: float = 120.0) -> dict[str, int]:
    """Once no service has a mail pending: each one's final (failed) mails so far."""
    began = time.monotonic()
    counts = wait_until(lambda: read_after(began) and (c := mail_counts(world))
                        and all(p == 0 for p, _f in c.values()) and c,
                        timeout=timeout, interval=0.5, message="no mail pending in any service")
    return {service: int(failed) for service, (_p, failed) in counts.items()}


def wait_outboxes(world, before: dict[str, int], *, failed: dict[str, int] | None = None,
                  timeout: float = 120.0) -> None:
    """Until no service has a mail pending, and each has ``failed`` more final
    ones than ``before`` (none unless named)."""
    wanted = {s: (0.0, float(before[s] + (failed or {}).get(s, 0))) for s in MAIL_SERVICES}
    began = time.monotonic()
    wait_until(lambda: read_after(began) and mail_counts(world) == wanted, timeout=timeout, interval=0.5,
               message=f"every mail outbox settled as {wanted}")


def notified(world, clientes) -> set[str]:
    """The ids of every notification the customers have: each is a mail decided."""
    ids: set[str] = set()
    for cliente in clientes:
        ids |= set(world.api.list_all("apertura", "/notificaciones", cliente.token))
    return ids


def open_for(world, clientes, n: int, categoria: str) -> list[str]:
    """``n`` incidents, round robin over ``clientes``, each acknowledged."""
    opened = []
    for i in range(n):
        response = world.api.open_incidencia(clientes[i % len(clientes)], categoria)
        assert response.status_code == 201, response.text
        opened.append(response.json()["id"])
    return opened


def assigned_everywhere(world, clientes, opened: list[str]) -> None:
    """Until every incident is assigned as its customer sees it (the notification exists then)."""
    def done() -> bool:
        seen = world.api.customer_incidencias(clientes)
        return all(seen.get(i, {}).get("estado") == "asignada" for i in opened)

    wait_until(done, timeout=60, interval=0.2, message="every incident assigned and notified")


def deliveries(mailbox, ids: set[str]) -> Counter:
    """How many times each of ``ids`` arrived."""
    arrived = Counter(outbox_id(m) for m in mailbox.messages())
    return Counter({i: arrived.get(i, 0) for i in ids})


def test_smtp_server_down_for_30_s_under_load_every_mail_arrives_once_afterwards(world, figures, alive):
    mailbox, categoria = world.system.mailbox, "correo-caido"
    clientes = world.clientes(6, "Buzon")
    welcomed(world, clientes)
    before = settled(world)
    mailbox.clear()
    mailbox.stop()
    opened: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.wait(0.25):
            opened.extend(open_for(world, clientes, 1, categoria))

    loader = threading.Thread(target=load, name="load", daemon=True)
    down_at = time.monotonic()
    loader.start()
    try:
        wait_until(lambda: time.monotonic() - down_at >= OUTAGE_S, timeout=OUTAGE_S + 5, interval=0.5,
                   message="the outage lasted its time")
    finally:
        stop.set()
        loader.join(timeout=30)
    assert not loader.is_alive(), "the load stopped"
    assert opened, "incidents were opened during the outage"
    assigned_everywhere(world, clientes, opened)
    pending_during = mail_counts(world)
    assert mailbox.messages() == [], "nothing could be delivered while the server was down"
    back_at = time.monotonic()
    mailbox.start()
    wait_outboxes(world, before)
    recovered_s = time.monotonic() - back_at

    decided = notified(world, clientes)
    counts = deliveries(mailbox, decided)
    lost = sorted(i for i, n in counts.items() if n == 0)
    arrived = Counter(outbox_id(m) for m in mailbox.messages())
    duplicated = sum(n - 1 for n in arrived.values() if n > 1)
    to_agents = [m for m in mailbox.messages()
                 if str(m["To"]).lower() in {a.email.lower() for a in world.agentes}]
    figures.record("smtp_server_down_30s", fault=f"SMTP server stopped for {OUTAGE_S:.0f} s under load", figures={
        "mails": {"decided": len(decided) + len(opened), "delivered": len(arrived), "lost": len(lost),
                  "duplicated": duplicated, "failed": 0},
        "incidents_opened": len(opened), "down_s": round(OUTAGE_S, 1), "recovered_s": round(recovered_s, 1),
        "pending_at_return": {s: int(p) for s, (p, _f) in pending_during.items()},
    })
    assert lost == [], f"notifications with no mail: {lost}"
    assert duplicated == 0, f"mails sent twice with no answer lost: {[i for i, n in arrived.items() if n > 1]}"
    # One notification (assigned) per incident, and one mail to its agent.
    assert len(decided) == len(opened), (len(decided), len(opened))
    assert len(to_agents) == len(opened), (len(to_agents), len(opened))


def test_a_5xx_answer_is_final_after_one_try_and_the_next_mails_go_out(world, figures, alive):
    mailbox, categoria = world.system.mailbox, "correo-rechazado"
    cliente = world.clientes(1, "Rechazo")[0]
    welcomed(world, [cliente])
    before = settled(world)
    mailbox.clear()
    mailbox.refuse("550 5.1.1 Buzón inexistente")
    opened = open_for(world, [cliente], 1, categoria)
    assigned_everywhere(world, [cliente], opened)
    # The customer's mail (apertura) and the agent's (resolucion): final, once each.
    wait_outboxes(world, before, failed={"apertura": 1, "resolucion": 1})
    tries = Counter(r.message_id for r in mailbox.refusals())
    refused_ids = {str(i).strip("<>").rsplit("@", 1)[0] for i in tries}
    mailbox.accept()
    later = open_for(world, [cliente], 1, categoria)
    assigned_everywhere(world, [cliente], later)
    # The customer's and the agent's mails about the later incident.
    wait_until(lambda: len(mailbox.messages()) >= 2, timeout=60, interval=0.1,
               message="the mails decided after the refusals arrived")
    wait_outboxes(world, before, failed={"apertura": 1, "resolucion": 1})
    arrived = {outbox_id(m) for m in mailbox.messages()}
    decided = notified(world, [cliente])
    figures.record("smtp_5xx_refusal", fault="the SMTP server answers 550 to every message", figures={
        "mails": {"decided": len(decided) + len(opened) + len(later), "delivered": len(arrived), "lost": 0, "duplicated": 0, "failed": len(refused_ids)},
        "tries_of_each_refused_mail": sorted(set(tries.values())),
    })
    assert len(tries) == 2 and set(tries.values()) == {1}, tries
    assert arrived.isdisjoint(refused_ids), "a refused mail was sent again"
    assert len(arrived) == 2 and len(decided) == 2, (arrived, decided)
    assert decided - refused_ids <= arrived, "the notification made after the refusal was mailed"


def test_a_sending_worker_killed_mid_batch_loses_no_mail(world, figures, alive):
    mailbox, categoria = world.system.mailbox, "correo-matado"
    clientes = world.clientes(4, "Matado")
    welcomed(world, clientes)
    before = settled(world)
    mailbox.clear()
    mailbox.stop()
    opened = open_for(world, clientes, 24, categoria)
    assigned_everywhere(world, clientes, opened)
    decided = notified(world, clientes)
    wait_until(lambda: mail_counts(world)["apertura"][0] >= len(decided), timeout=30, interval=0.5,
               message="apertura's backlog of mails is stored")
    mailbox.slow(0.3)
    mailbox.start()
    customer_addresses = {c.email.lower() for c in clientes}

    def to_customers() -> list[EmailMessage]:
        return [m for m in mailbox.messages() if str(m["To"]).lower() in customer_addresses]

    on_the_wire: set[str] = set()
    kills = 0
    for threshold in (3, 9):
        wait_until(lambda t=threshold: len(to_customers()) >= t, timeout=60, interval=0.02,
                   message=f"{threshold} customer mails arrived")
        # The last mail that arrived may still wait for its answer (0.3 s): the
        # one a kill now can make the sender send again.
        on_the_wire |= {outbox_id(m) for m in to_customers()[-2:]}
        world.system.kill("apertura_worker")
        world.system.wait_exit("apertura_worker", timeout=10)
        kills += 1
        world.system.restart("apertura_worker")
    mailbox.slow(0)
    # What a killed sender had claimed waits for its lease (SMTP_TIMEOUT=2 here: 91 s).
    wait_outboxes(world, before, timeout=300)

    counts = deliveries(mailbox, decided)
    lost = sorted(i for i, n in counts.items() if n == 0)
    twice = {i: n for i, n in counts.items() if n > 1}
    figures.record("mail_worker_killed_mid_batch", fault="apertura's worker SIGKILLed twice while sending a backlog",
                   figures={"mails": {"decided": len(decided), "delivered": sum(counts.values()), "lost": len(lost),
                                      "duplicated": sum(n - 1 for n in twice.values()), "failed": 0},
                            "kills": kills})
    assert lost == [], f"mails never sent: {lost}"
    assert set(twice) <= on_the_wire, f"sent twice without a lost answer: {set(twice) - on_the_wire}"
    assert sum(n - 1 for n in twice.values()) <= kills, twice
