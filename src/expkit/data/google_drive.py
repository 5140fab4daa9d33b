"""Google Drive's "can't scan this file for viruses" page: the URL that confirms the download.

Drive answers a request for a large public file with this HTML page instead of the file; the page
carries a token that a second request must send. Its form has changed over the years, so the
styles are tried newest first.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from typing import Any


class _ConfirmPageParser(HTMLParser):
    """Collects forms (id, action, hidden inputs) and links that carry a `confirm=` token."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"id": a.get("id", ""), "action": a.get("action", ""), "inputs": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() in ("hidden", "text"):
                self._form["inputs"][a["name"]] = a.get("value", "")
        elif tag == "a" and "confirm=" in a.get("href", ""):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def confirm_url(page: str, page_url: str, original_url: str, cookies: CookieJar) -> str | None:
    """The URL that confirms the download `page` (fetched from `page_url`) asks about, or None.

    Handles, newest style first: a form (action + hidden inputs id/export/confirm/uuid), a link
    whose href carries `confirm=TOKEN`, a `download_warning*` cookie, a bare `confirm=TOKEN` in
    the page. None means the page is something else (e.g. Drive's quota-exceeded page).
    """
    parser = _ConfirmPageParser()
    try:
        parser.feed(page)
        parser.close()
    except Exception:  # malformed HTML: the cookie and the bare token below may still be there
        pass
    for form in parser.forms:
        inputs = form["inputs"]
        if "confirm" in inputs or (form["id"] == "download-form" and inputs):
            action = urllib.parse.urljoin(page_url, form["action"] or page_url)
            base, _, existing = action.partition("?")
            params = dict(urllib.parse.parse_qsl(existing, keep_blank_values=True))
            params.update(inputs)
            return base + "?" + urllib.parse.urlencode(params)
    for href in parser.links:
        return urllib.parse.urljoin(page_url, html.unescape(href))
    token = next((c.value for c in cookies if c.name.startswith("download_warning")), None)
    if token is None:
        match = re.search(r"confirm=([0-9A-Za-z_\-]+)", page)
        token = match.group(1) if match else None
    if token is None:
        return None
    parts = urllib.parse.urlsplit(original_url)
    params = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "confirm"]
    params.append(("confirm", token))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(params)))
