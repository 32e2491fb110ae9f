"""Entry point of the floor's worker: `celery -A bench.floor_worker worker`, in the stack's env.

Parley's Celery app is built from the same environment as the stack's worker, and the floor
app takes its broker settings from it.
"""

from __future__ import annotations

import os

from bench.floor import BACKEND_ENV, make_app, parley_broker_settings
from shared.celery_app import celery_app as parley

app = make_app(parley.conf.broker_url, os.environ[BACKEND_ENV], parley_broker_settings(parley))
