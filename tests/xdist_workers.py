"""``make test`` runs the suite in two processes (pytest-xdist). PostgreSQL is one database per
process already (pytest-django's suffix); this gives each process a Redis database of its own,
since tests empty theirs (FLUSHDB) and must not empty another process's queues. Loaded with
``-p`` so that it runs before Django reads its settings."""

import os
from urllib.parse import urlsplit, urlunsplit

worker = os.environ.get("PYTEST_XDIST_WORKER", "")
url = os.environ.get("REDIS_URL")
if worker.startswith("gw") and url:
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + int(worker[2:])
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{database}"))
