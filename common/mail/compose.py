"""The one layout of every mail: its paragraphs, then a quoted block of the
person's own text (a proposed solution, a comment) when there is one, then
each link (a labelled line in the text part, a button-like link in the HTML
part), then the same footer. Both parts are built from the same pieces, so
they never say different things; the HTML escapes every piece and loads
nothing from outside (no images, fonts or style sheets: inline styles only)."""
from __future__ import annotations

from typing import Sequence
from urllib.parse import quote as url_quote, urlencode, urlsplit

from markupsafe import Markup, escape

from .message import Mail

FOOTER = "Este mensaje lo envía Incidencias automáticamente; no responda a él."

_BODY_STYLE = ("margin:0;padding:24px;background:#f4f5f7;color:#1b1f24;"
               "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5")
_CARD_STYLE = "max-width:600px;margin:0 auto;padding:24px;background:#ffffff;border-radius:6px"
_QUOTE_STYLE = "margin:16px 0;padding:8px 16px;border-left:4px solid #9aa5b1;background:#f4f5f7;color:#333d47"
_BUTTON_STYLE = ("display:inline-block;padding:10px 18px;background:#1f5fbf;color:#ffffff;"
                 "text-decoration:none;border-radius:4px;font-weight:bold")
_FOOTER_STYLE = "margin-top:24px;padding-top:12px;border-top:1px solid #d8dde3;font-size:13px;color:#59636e"


def portal_link(portal_url: str, path: str, **query: str) -> str:
    """``portal_url`` (no trailing slash needed) joined with ``path`` (which
    may end in a ``#fragment``), with ``query`` url-encoded before the
    fragment: ``portal_link(url, "/cuenta/verificar", token=t)``."""
    path, _, fragment = path.partition("#")
    link = f"{portal_url.rstrip('/')}/{url_quote(path.lstrip('/'), safe='/')}"
    if query:
        link += "?" + urlencode(query, quote_via=url_quote)
    if fragment:
        link += "#" + url_quote(fragment, safe="")
    return link


def compose(to: str, subject: str, paragraphs: Sequence[str], links: Sequence[tuple[str, str]] = (),
            quote: str | None = None) -> Mail:
    """The mail to ``to``: ``paragraphs`` (plain text; a newline inside one
    is kept as a line break), ``quote`` shown as a quotation, and ``links``
    as (label, http(s) URL) pairs."""
    _check_header("to", to)
    _check_header("subject", subject)
    paragraphs = [p.strip() for p in paragraphs if p and p.strip()]
    if not paragraphs:
        raise ValueError("a mail needs at least one paragraph")
    for label, url in links:
        if not label.strip():
            raise ValueError("every link needs a label")
        if urlsplit(url).scheme not in ("http", "https") or any(c.isspace() for c in url):
            raise ValueError(f"links must be http(s) URLs without spaces: {url!r}")
    quote = quote.strip() if quote else None
    return Mail(to=to, subject=subject, text=_text(paragraphs, links, quote),
                html=_html(subject, paragraphs, links, quote))


def _check_header(name: str, value: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"a mail needs a {name}")
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} of a mail is one line")


def _text(paragraphs: list[str], links: Sequence[tuple[str, str]], quote: str | None) -> str:
    blocks = list(paragraphs)
    if quote:
        blocks.append("\n".join(f"> {line}".rstrip() for line in quote.splitlines()))
    blocks += [f"{label}: {url}" for label, url in links]
    # "-- " on its own line: mail clients show what follows as the signature.
    return "\n\n".join(blocks) + "\n\n-- \n" + FOOTER + "\n"


def _lines(text: str) -> Markup:
    """``text`` escaped, its newlines as line breaks."""
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


def _html(subject: str, paragraphs: list[str], links: Sequence[tuple[str, str]], quote: str | None) -> str:
    parts = [Markup('<p style="margin:0 0 16px">{}</p>').format(_lines(p)) for p in paragraphs]
    if quote:
        parts.append(Markup('<blockquote style="{}">{}</blockquote>').format(_QUOTE_STYLE, _lines(quote)))
    parts += [Markup('<p style="margin:16px 0"><a href="{}" style="{}">{}</a></p>').format(url, _BUTTON_STYLE, label)
              for label, url in links]
    return Markup(
        '<!DOCTYPE html>\n<html lang="es">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
        '</head>\n<body style="{body}">\n<div style="{card}">\n{parts}\n'
        '<p style="{footer}">{footer_text}</p>\n</div>\n</body>\n</html>\n'
    ).format(title=subject, body=_BODY_STYLE, card=_CARD_STYLE, parts=Markup("\n").join(parts),
             footer=_FOOTER_STYLE, footer_text=FOOTER)
