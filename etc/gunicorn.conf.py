"""gunicorn settings for the `web` program; every value can be overridden from etc/pnr.env."""
import os

# A worker's death, which supervisord cannot see (the master lives on), is an alert, and a request past
# the timeout retires its threaded worker (app/alerts/workers.py, app/alerts/watchdog.py).
from app.alerts.workers import child_exit, on_starting, post_worker_init, worker_abort  # noqa: F401 - gunicorn's hooks

bind = f"{os.environ.get('PNR_WEB_HOST', '127.0.0.1')}:{os.environ.get('PNR_WEB_PORT', '8000')}"
workers = int(os.environ.get("PNR_WEB_WORKERS", "2"))
# Threads, so that lookups waiting on a slow status API do not hold the workers and /healthz: with the
# defaults, 2 x 48 threads are more than the PNR_UPSTREAM_CAP (64) calls that can be in flight at once.
worker_class = "gthread"
threads = int(os.environ.get("PNR_WEB_THREADS") or "48")
# A worker takes at most this many connections: its threads' and as many kept alive; the rest wait in
# the listen queue, where another worker can take them, instead of in this worker's own queue.
worker_connections = 2 * threads
# A request running longer retires its worker (app/alerts/watchdog.py); a worker whose main loop stops
# is aborted by the master.
timeout = int(os.environ.get("PNR_WEB_TIMEOUT_S", "30"))
graceful_timeout = 10
# A kept-alive connection waits in the worker's poller, not on a thread.
keepalive = 2
# Clients (MongoClient, the predictor client) are made after fork, one per worker.
preload_app = False
accesslog = "-"
errorlog = "-"
capture_output = True
proc_name = "pnr-web"
logger_class = "app.alerts.workers.Logger"
# gunicorn's control socket lives under ~/.gunicorn and would be shared by every gunicorn on the host.
control_socket_disable = True
