"""outbox: delivers the mail spooled while the SMTP server was unreachable."""
from __future__ import annotations

import click

from .. import services
from ..alerts import MailSettings, drain_spool
from .loop import every_option, run_every


@click.command("outbox")
@every_option(30.0)
def command(every_s: float, once: bool) -> None:
    """Deliver spooled mail until the spool is empty or SMTP fails again."""
    settings = MailSettings.from_config(services.current().config)

    def iteration() -> dict[str, int]:
        delivered, waiting = drain_spool(settings)
        return {"delivered": delivered, "waiting": waiting}

    run_every("outbox", every_s, iteration, once)
