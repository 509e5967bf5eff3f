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
"""

from __future__ import annotations

import os


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
    app.connect("html-page-context", _light_mode, priority=900)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
