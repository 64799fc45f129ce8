"""What gunicorn loads (``gunicorn --preload wsgi:app``): the app over local backends in
``$NOTES_DATA_DIR``. With ``--preload`` this module runs once, in the master, before the workers are
forked; the capability objects are built here and make their first call in a worker."""

from __future__ import annotations

import os

from notes_app import create_app

from cap_cloudflare_kv.sync import KvNamespace
from cap_cloudflare_queue.sync import Queue
from cap_cloudflare_r2.sync import R2Bucket

DATA = os.environ.get("NOTES_DATA_DIR", ".caps/notes")

app = create_app(
    KvNamespace.local(f"{DATA}/kv"),
    R2Bucket.local(f"{DATA}/r2"),
    Queue.local(f"{DATA}/queues", "notes"),
)
