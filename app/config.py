"""Settings: defaults in code, overrides from the environment (PNR_*), coerced once at start-up."""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from plumbing import settings
from plumbing.settings import ENV_PREFIX, SettingsError, boolean, comma_list, text

__all__ = ["ENV_PREFIX", "SETTINGS", "SettingsError", "boolean", "defaults", "derive", "from_env", "load"]


def _auto_boolean(value: str) -> bool | None:
    """true/false, or None for "auto" (and empty): derived from other settings."""
    return None if value.strip().lower() in {"", "auto"} else boolean(value)


# Any key will do for railsim; the path template has a place for one.
RAILSIM_DEV_KEY = "dev-railsim-accepts-any-key"


# name -> (default, coercer). The name in the environment is PNR_<name>.
SETTINGS: dict[str, tuple[Any, Callable[[str], Any]]] = {
    "SECRET_KEY": ("dev-only-not-secret", text),
    "VAR_DIR": ("var", text),
    "MONGO_URI": ("mongodb://127.0.0.1:27117/?directConnection=true", text),
    "MONGO_DB": ("pnr", text),
    "MONGO_TIMEOUT_MS": (1500, int),
    # Statuses always come over HTTP: from railsim (the simulator's program) unless HTTP_BASE_URL
    # names a real status API. SIM_SEED and SIM_ERA are railsim's, also for the jobs' simulated journeys.
    "SOURCE": ("http", text),
    "SIM_SEED": (2013, int),
    "SIM_ERA": ("2015", text),
    "RAILSIM_HOST": ("127.0.0.1", text),
    "RAILSIM_PORT": (8100, int),
    "HTTP_BASE_URL": ("", text),
    # railsim's extras (histories, sample PNRs, statuses at a given moment): auto = when HTTP_BASE_URL
    # is railsim's, derived from RAILSIM_HOST and RAILSIM_PORT.
    "HTTP_RAILSIM": (None, _auto_boolean),
    "HTTP_API_KEY": ("", text),
    "HTTP_TIMEOUT_S": (5.0, float),
    "HTTP_RETRIES": (2, int),
    # The host's budget for the status API, shared by every worker and job (app/services/sources/guard.py).
    "UPSTREAM_CAP": (64, int),
    "UPSTREAM_DEADLINE_S": (4.0, float),
    "UPSTREAM_SHARE_S": (1.0, float),
    "UPSTREAM_BREAKER_FAILURES": (5, int),
    "UPSTREAM_BREAKER_OPEN_S": (10.0, float),
    "HTTP_SHAPE": ("auto", text),
    "HTTP_PATH_TEMPLATE": ("/pnr-status/pnr/{pnr}/apikey/{key}/", text),
    "HTTP_KEY_HEADER": ("", text),
    "PREDICTOR_ENDPOINTS": ([], comma_list),
    "PREDICTOR_HOST": ("127.0.0.1", text),
    "PREDICTOR_PORT_BASE": (5600, int),
    "PREDICTOR_PROCS": (2, int),
    "PREDICTOR_TIMEOUT_MS": (300, int),
    "PREDICTOR_DEADLINE_MS": (1500, int),
    "MODEL_PATH": ("", text),
    "SMTP_HOST": ("127.0.0.1", text),
    "SMTP_PORT": (8025, int),
    "SMTP_SECURITY": ("none", text),
    "SMTP_USER": ("", text),
    "SMTP_PASSWORD": ("", text),
    "SMTP_TIMEOUT_S": (10.0, float),
    "MAIL_FROM": ("pnr.me alerts <alerts@pnr.me.invalid>", text),
    "ALERT_TO": ("oncall@pnr.me.invalid", text),
    "ALERT_MAIL": (True, boolean),
    "PUBLIC_URL": ("http://127.0.0.1:8000", text),
    "RETENTION_DAYS": (30, int),
    # A complete lookup is answered again from memory for this many seconds (app.services.recent; 0: never).
    "LOOKUP_CACHE_S": (30.0, float),
    # Per client address (limits' syntax, ";" between limits). Lookups count pages and API together.
    "RATE_LIMIT_LOOKUP": ("30/minute;300/hour", text),
    "RATE_LIMIT_TRACK": ("5/minute;20/hour", text),
    # Confirmation mails to one address, whichever client asks: the site must not be a mail cannon.
    "RATE_LIMIT_TRACK_PER_ADDRESS": ("5/day", text),
    # host (a file under VAR_DIR every worker of this machine shares), mongo (the store: several web
    # hosts share it; in memory per worker while the store is down) or memory (each worker its own).
    "RATE_LIMIT_STORAGE": ("host", text),
    # Reverse proxies in front of gunicorn whose X-Forwarded-For is trusted (0: none).
    "TRUSTED_PROXIES": (0, int),
    # A tracking confirmation link works this long; unconfirmed subscriptions are deleted after it.
    "TRACK_CONFIRM_HOURS": (48, int),
    # A job's iteration not finished this long after it was due to start is mailed as late.
    "JOB_GRACE_S": (300.0, float),
    # The trainer's iteration is a fit: minutes on two cores.
    "TRAINER_GRACE_S": (3600.0, float),
}


def defaults() -> dict[str, Any]:
    """Every setting at its built-in default (the embedded, single-machine kit)."""
    return settings.defaults(SETTINGS)


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings present in the environment, coerced; raises SettingsError naming a bad one."""
    return settings.from_env(SETTINGS, environ)


def derive(config: dict[str, Any]) -> None:
    """Fill settings computed from others (predictor endpoints, model path, the railsim URL)."""
    if not config["PREDICTOR_ENDPOINTS"]:
        host, base = config["PREDICTOR_HOST"], config["PREDICTOR_PORT_BASE"]
        config["PREDICTOR_ENDPOINTS"] = [f"tcp://{host}:{base + i}" for i in range(config["PREDICTOR_PROCS"])]
    if not config["HTTP_BASE_URL"]:
        config["HTTP_BASE_URL"] = f"http://{config['RAILSIM_HOST']}:{config['RAILSIM_PORT']}"
        config["HTTP_API_KEY"] = config["HTTP_API_KEY"] or RAILSIM_DEV_KEY
        if config["HTTP_RAILSIM"] is None:
            config["HTTP_RAILSIM"] = True
    if config["HTTP_RAILSIM"] is None:
        config["HTTP_RAILSIM"] = False
    if not config["MODEL_PATH"]:
        config["MODEL_PATH"] = os.path.join(config["VAR_DIR"], "model.json")


def load(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A process's settings: defaults, then the environment (PNR_*), then `overrides` (a test's),
    then what derives from them; raises SettingsError naming a bad one. The web app and every job
    start from this."""
    config = defaults()
    config.update(from_env())
    config.update(overrides or {})
    derive(config)
    return config
