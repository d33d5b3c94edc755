"""pnr.me: PNR status and waitlist confirmation prediction for Indian Railways passengers.

Importing the package stays light (no Flask, no pymongo): `pnr-sendmail` imports app.alerts once
per alert mail, so the web app's modules are imported by create_app.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults in code, then the environment (PNR_*), then `test_config`."""
    from plumbing import lastwords

    # First, so that even a failure below leaves its traceback for the exit alert.
    lastwords.install()

    from flask import Flask, current_app, has_app_context

    from . import alerts, config, services, version
    from .alerts import watchdog
    from .services.sources import make_source
    from .web import logs

    app = Flask(__name__)
    app.config.from_mapping(config.load(test_config))
    os.makedirs(app.config["VAR_DIR"], exist_ok=True)
    app.extensions["pnr_version"] = version.of_checkout()

    # The services below the web layer find this app's settings and clients through it.
    app.extensions["pnr_services"] = services.Services(app.config, app.extensions)
    services.provide(lambda: current_app.extensions["pnr_services"] if has_app_context() else None)

    logs.init_app(app)
    alerts.init_app(app, program=os.environ.get("SUPERVISOR_PROCESS_NAME", "web"))
    watchdog.init_app(app)
    # Built now, so that a bad source setting stops the process with a clear message.
    app.extensions["pnr_source"] = make_source(app.config)

    from .web import api, errors, pages

    errors.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    return app
