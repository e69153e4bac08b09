"""The demo of ``essmon serve --demo``: demo data (``data.py``) and what ``serve`` asks of it
(``serving.py``). The top of the layer order: it builds on every other app."""
