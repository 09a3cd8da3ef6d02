"""The analytics REST API (``chrono-analytics serve``): ``service`` answers the questions from
a backend (the lake, or PostgreSQL as the rollback path), ``schemas`` defines every figure,
``app`` is the FastAPI router, ``hosts`` the URL host and domain category rules in Python
(for the PostgreSQL backend)."""
