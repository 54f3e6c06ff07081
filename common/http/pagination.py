"""Page-number pagination shared by every list endpoint."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlencode

import marshmallow as ma
from flask import request

from common.listing import Listing

from .schemas import AnswerSchema

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class PaginationArgs(ma.Schema):
    pagina = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))
    por_pagina = ma.fields.Integer(
        load_default=DEFAULT_PER_PAGE, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE)
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The envelope of a page of ``item_schema`` items."""
    return AnswerSchema.from_dict(
        {
            "elementos": ma.fields.List(ma.fields.Nested(item_schema)),
            "pagina": ma.fields.Integer(),
            "por_pagina": ma.fields.Integer(),
            "total": ma.fields.Integer(),
            "paginas": ma.fields.Integer(),
            "siguiente": ma.fields.String(allow_none=True),
        },
        name=name,
    )


def paginate(args: dict[str, Any], count: Callable[[], int] | Listing,
             fetch: Callable[[int, int], list] | None = None) -> dict[str, Any]:
    """The page ``args`` asks for of a use case's ``Listing`` (or of ``count``
    and ``fetch``), with the link to the next one."""
    if isinstance(count, Listing):
        count, fetch = count.count, count.fetch
    if fetch is None:
        raise TypeError("paginate takes a Listing, or count and fetch")
    page, per_page = args["pagina"], args["por_pagina"]
    total = count()
    items = fetch((page - 1) * per_page, per_page) if (page - 1) * per_page < total else []
    pages = max(1, -(-total // per_page))
    following = None
    if page < pages:
        query = request.args.to_dict(flat=False)
        query["pagina"] = [str(page + 1)]
        query["por_pagina"] = [str(per_page)]
        following = f"{request.script_root}{request.path}?{urlencode(query, doseq=True)}"
    return {
        "elementos": items, "pagina": page, "por_pagina": per_page,
        "total": total, "paginas": pages, "siguiente": following,
    }
