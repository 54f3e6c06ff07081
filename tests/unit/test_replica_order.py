"""Event.replica_order: the key last-writer-wins replicas compare (pure; no fakes)."""
from datetime import datetime, timedelta, timezone

from common.messaging import make_event

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def event(tipo="empleado.actualizado", at=T0, **datos):
    return make_event(tipo, {"id": "e1", **datos}, "empleados", at=at)


def test_the_record_version_orders_before_the_time_of_the_event():
    newer_version_earlier = event(version=3, at=T0)
    older_version_later = event(version=2, at=T0 + timedelta(hours=1))
    assert newer_version_earlier.replica_order() > older_version_later.replica_order()


def test_without_a_version_the_time_orders_and_a_tie_goes_to_the_winner():
    assert event(at=T0).replica_order() < event(at=T0 + timedelta(microseconds=1)).replica_order()
    update = event(version=4, at=T0)
    deactivation = event("empleado.baja", version=4, at=T0)
    assert deactivation.replica_order(wins_ties=True) > update.replica_order()
    assert deactivation.replica_order(wins_ties=True) < event(version=5, at=T0).replica_order()


def test_a_version_that_is_not_a_counter_counts_as_none():
    for bad in (True, -1, "9", 1.5, None):
        assert event(version=bad).replica_order().startswith("000000000000|")
    assert event(version=12).replica_order().startswith("000000000012|")
