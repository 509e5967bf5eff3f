"""Code shared by the chapters of the book.

One small module per idea; each function's docstring names the chapter that derives it.
"""
