"""gunicorn settings for the `web` program; every value can be overridden from etc/pnr.env."""
import os

# A worker's death, which supervisord cannot see (the master lives on), is an alert (app/alerts/workers.py).
from app.alerts.workers import child_exit, on_starting, worker_abort  # noqa: F401 - gunicorn's hooks

bind = f"{os.environ.get('PNR_WEB_HOST', '127.0.0.1')}:{os.environ.get('PNR_WEB_PORT', '8000')}"
workers = int(os.environ.get("PNR_WEB_WORKERS", "2"))
worker_class = "sync"
timeout = int(os.environ.get("PNR_WEB_TIMEOUT_S", "30"))
graceful_timeout = 10
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
