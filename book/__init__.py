"""Code shared by the chapters of the book.

One subpackage per part of ``_toc.yml`` (``warmups``, ``optim``, ``regularise``,
``representations``, ``generative``), one small module per idea inside it; each function's
docstring names the chapter that derives it. The pieces every part uses stay at the top:
``sliders``, ``checks``, ``training``, ``data`` and ``seeding``. Import modules explicitly
(``from book.optim import dynamics``): the packages re-export nothing.
"""
