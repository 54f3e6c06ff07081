"""The customer's rating form (the score chosen, the optional comment) into
the API's body, and how ratings, shares and staff's warnings are worded."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from portal import display
from portal.forms import SIN_PUNTUACION, valoracion


@pytest.mark.parametrize("form, body", [
    ({"puntuacion": "4", "comentario": "  Muy amables  "}, {"puntuacion": 4, "comentario": "Muy amables"}),
    ({"puntuacion": "1", "comentario": "   "}, {"puntuacion": 1, "comentario": None}),
    ({"puntuacion": "5"}, {"puntuacion": 5, "comentario": None}),
])
def test_the_score_chosen_as_an_integer_and_a_blank_comment_as_none(form, body):
    sent, errores = valoracion(MultiDict(form))
    assert not errores
    assert sent == body


@pytest.mark.parametrize("puntuacion", [None, "", "0", "6", "4.5", "cuatro", "-1", "05", "٤"])
def test_no_score_or_one_not_offered_is_said_next_to_it(puntuacion):
    form = MultiDict({"comentario": "Sin nota"} if puntuacion is None else {"puntuacion": puntuacion})
    _sent, errores = valoracion(form)
    assert errores.campos == {"puntuacion": SIN_PUNTUACION}
    assert not errores.generales


def test_scores_and_averages_in_words():
    assert [display.puntuacion(n) for n in range(1, 6)] == [
        "1 · Muy mal", "2 · Mal", "3 · Regular", "4 · Bien", "5 · Muy bien"]
    assert display.puntuacion("3") == "3 · Regular"
    assert display.puntuacion(7) == "7"
    assert display.media(4.25) == "4,3 de 5"
    assert display.media(4.0) == "4 de 5"
    assert display.media(None) == "sin valoraciones"


@pytest.mark.parametrize("value, text", [(85.3, "85,3 %"), (100.0, "100 %"), (0.0, "0 %"), (66.66, "66,7 %"),
                                         (None, "—")])
def test_percentages_the_spanish_way(value, text):
    assert display.percent(value) == text


def test_figures_drop_a_needless_decimal():
    assert [display.decimal(v) for v in (4.0, 4.25, 3.333, 10, None)] == ["4", "4,3", "3,3", "10", "—"]
    assert display.decimal(2.5, places=0) == "3"  # half up, as people round (not to even, as Python does)
    assert display.decimal(0.05) == "0,1"


def test_staff_warnings_in_words_and_the_badge_they_get():
    assert display.aviso("incidencia.sla_en_riesgo") == "En riesgo"
    assert display.aviso("incidencia.sla_incumplido") == "Plazo superado"
    assert display.AVISO_SLA == {"incidencia.sla_en_riesgo": "en_riesgo", "incidencia.sla_incumplido": "incumplido"}
    assert set(display.AVISO_SLA.values()) <= set(display.SLA)
