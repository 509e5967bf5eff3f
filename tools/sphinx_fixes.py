"""Small fixes to the Jupyter Book 1.x HTML, loaded as a local Sphinx extension.

* Some extensions register their inline configuration scripts once per read phase, so a
  page can carry the same ``<script>`` twice (sphinx-thebe's ``const THEBE_JS_URL`` then
  throws "already declared"). Keep the first copy of each script.
* The Jupyter widgets typeset their labels through MathJax 2's ``MathJax.Hub``, which
  MathJax 3 lacks (a page error on every slider); ``static/book.js`` supplies a small
  forwarder, loaded before everything else.
* ``make book`` and the tests execute the chapters before the build; a chapter that failed
  is named in ``BOOK_SKIP_EXECUTION`` and excluded from the build's execution, so the build
  goes on to every other page instead of stopping at the first failure.
* pydata-sphinx-theme reads its colour mode from ``default_mode`` and logs a console
  error when it is empty; the book's figures are drawn on white, so default to light.
* "Live Code" runs the book's own Thebe (``static/vendor/thebe``) through
  ``static/live-code.js``, which takes the place of sphinx-thebe's loader and its CDN
  address. It connects to Binder, or, when ``BOOK_THEBE_SERVER`` is set at build time
  (``http://127.0.0.1:PORT/?token=TOKEN``, for the tests only), to that Jupyter server.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the copies differ only in priority, or in a filename of None against ""
        key = (getattr(js, "filename", None) or "", repr(getattr(js, "attributes", None)))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def _is_sphinx_thebe_loader(js) -> bool:
    """sphinx-thebe's script, or its inline constants naming the CDN copy of Thebe."""
    name = str(getattr(js, "filename", None) or "")
    body = str((getattr(js, "attributes", None) or {}).get("body", ""))
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _live_code_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        scripts[:] = [js for js in scripts if not _is_sphinx_thebe_loader(js)]


def local_thebe_config(server: str) -> dict:
    """Thebe's settings for a Jupyter server given as ``http://host:port/?token=TOKEN``."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"BOOK_THEBE_SERVER must look like http://127.0.0.1:8888/?token=..., "
                         f"got {server!r}")
    base = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    token = parse_qs(parts.query).get("token", [""])[0]
    return {"useBinder": False,
            "serverSettings": {"baseUrl": base, "wsUrl": "ws" + base[len("http"):],
                               "token": token}}


def _thebe_server(app):
    server = os.environ.get("BOOK_THEBE_SERVER", "").strip()
    if server:
        app.add_js_file(None, body=json.dumps(local_thebe_config(server)),
                        type="text/x-thebe-config")


def _light_mode(app, pagename, templatename, context, doctree):
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def _skip_failed_chapters(app, config):
    skip = [p for p in os.environ.get("BOOK_SKIP_EXECUTION", "").split(",") if p]
    if skip:
        config.nb_execution_excludepatterns = list(config.nb_execution_excludepatterns) + skip


def setup(app):
    app.connect("config-inited", _skip_failed_chapters)
    app.add_js_file("book.js", priority=100)
    app.add_js_file("live-code.js")
    app.connect("builder-inited", _thebe_server)
    app.connect("html-page-context", _live_code_scripts, priority=900)
    app.connect("html-page-context", _light_mode, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
