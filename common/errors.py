"""The refusals a use case raises, free of any web framework.

A service's use cases (``services.py``) raise these; the HTTP plumbing
answers each with its problem document once, for every view
(``common/http/app.py``), so no view catches them itself. A service adds its
own domain errors to that mapping when it builds its app."""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request refused for a reason the caller can act on."""

    status = 400
    title = "Petición no válida"
    slug: str | None = None

    def __init__(self, detail: str, *, slug: str | None = None, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.extra = extra


class Forbidden(ApplicationError):
    status, title, slug = 403, "Prohibido", "prohibido"


class NotFound(ApplicationError, LookupError):
    status, title, slug = 404, "No encontrado", "no-encontrado"

    def __init__(self, detail: str = "El recurso no existe", **kwargs: Any):
        super().__init__(detail, **kwargs)


class Conflict(ApplicationError):
    status, title, slug = 409, "Conflicto", "conflicto"


class Invalid(ApplicationError):
    """Input that is well formed but names something unusable (``campo``)."""

    status, title, slug = 422, "Datos no válidos", "validacion"

    def __init__(self, campo: str, mensaje: str, detail: str | None = None, ubicacion: str = "cuerpo"):
        super().__init__(detail or mensaje)
        self.errores = [{"campo": campo, "mensaje": mensaje, "ubicacion": ubicacion}]
