"""Debian's headless Chromium for the browser tests (the ``browser`` fixture is in conftest)."""

from __future__ import annotations

import os
import re

CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class PageWatch:
    """A page with the network cut, recording errors and every request that fails.

    ``allow``: address prefixes the page may reach all the same (a local Jupyter server).
    """

    def __init__(self, browser, allow: tuple[str, ...] = ()):
        self.allow = tuple(allow)
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.route(re.compile(r"^(https?|wss?):"), self._block)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", self._console)
        self.page.on("requestfailed",
                     lambda r: self.problems.append(f"failed request: {r.url} ({r.failure})"))

    def _block(self, route):
        if self.allow and route.request.url.startswith(self.allow):
            route.continue_()
            return
        self.problems.append(f"request outside the book: {route.request.url}")
        route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def close(self):
        self.context.close()
