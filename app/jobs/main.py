"""`pnr-job NAME [OPTIONS]`: the entry point of every job, with its settings, logging and alerts.

supervisord runs `pnr-job tracker --every 300` and the like. A job is not the web app: it builds
its own Services from the environment (defaults, then PNR_*, as create_app does) and imports the
module of the one command asked for, so the tracker carries no scipy and the janitor no mail.
"""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from plumbing import lastwords, logs
from plumbing.settings import SettingsError

from .. import alerts, services, version

# command name -> its module under app.jobs (each defines `command`).
MODULES = {
    "tracker": "tracker", "trainer": "trainer", "janitor": "janitor", "outbox": "outbox",
    "seed": "seed", "evaluate": "evaluate", "import-outcomes": "import_outcomes",
}


class Jobs(click.Group):
    """A group whose commands are imported only when named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = MODULES.get(cmd_name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(f"{__package__}.{module}").command
        return command


@click.group(cls=Jobs, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The kit's batch jobs. Settings come from the environment (etc/pnr.env, exported by
    scripts/env or supervisord)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job command; 2 on a bad setting or usage, 1 when the command fails."""
    lastwords.install()
    logs.configure()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        found = services.Services.from_env()
    except SettingsError as exc:
        print(f"pnr-job: {exc}", file=sys.stderr)
        return 2
    os.makedirs(found.config["VAR_DIR"], exist_ok=True)
    job = next((a for a in args if not a.startswith("-")), "pnr-job")
    found.extensions["pnr_version"] = version.of_checkout()
    alerts.install(found.config, os.environ.get("SUPERVISOR_PROCESS_NAME", job), found.extensions["pnr_version"])
    with services.bound(found):
        try:
            code = cli.main(args=args, prog_name="pnr-job", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.Abort:
            print("pnr-job: aborted", file=sys.stderr)
            return 1
        finally:
            found.close()
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
