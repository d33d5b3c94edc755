"""`pnr-railsim` / `python -m railsim`: serve the railway simulator over HTTP (see server.py)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from plumbing import lastwords, logs

from .config import ERAS
from .server import DEFAULT_PATH_TEMPLATE, RailsimServer, path_pattern

log = logging.getLogger(__name__)

MAX_PORT = 65535


@dataclasses.dataclass(frozen=True)
class Settings:
    """The program's settings, coerced once."""

    host: str
    port: int
    seed: int
    era: str
    path_template: str
    access_log: bool
    log_level: str
    latency_ms: float = 0.0
    hang_share: float = 0.0


def parse_settings(argv: Sequence[str] | None) -> Settings:
    """Settings from the command line; argparse exits 2 with a message on a bad one."""
    parser = argparse.ArgumentParser(prog="pnr-railsim", description="The railway simulator as a PNR-status API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8100, help="TCP port (default 8100)")
    parser.add_argument("--seed", type=int, default=2013, help="the railway's seed (default 2013)")
    parser.add_argument("--era", choices=ERAS, default="2015", help="the rules of which years (default 2015)")
    parser.add_argument("--path-template", default=DEFAULT_PATH_TEMPLATE,
                        help=f"the status path, with {{pnr}} and {{key}} (default {DEFAULT_PATH_TEMPLATE})")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--latency-ms", type=float, default=0.0, help="every status answer waits this long (default 0)")
    parser.add_argument("--hang-share", type=float, default=0.0,
                        help="share of status answers that hang for a minute, from 0 to 1 (default 0)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= MAX_PORT:
        parser.error(f"--port must be from 0 to {MAX_PORT}, not {args.port}")
    if args.latency_ms < 0 or not 0 <= args.hang_share <= 1:
        parser.error(f"--latency-ms must not be negative and --hang-share must be from 0 to 1, "
                     f"not {args.latency_ms:g} and {args.hang_share:g}")
    try:
        path_pattern(args.path_template)
    except ValueError as exc:
        parser.error(str(exc))
    return Settings(args.host, args.port, args.seed, args.era, args.path_template, args.access_log, args.log_level,
                    args.latency_ms, args.hang_share)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; exit 0 then, 2 on bad settings or a port that cannot be bound."""
    lastwords.install()
    try:
        settings = parse_settings(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    logs.configure(settings.log_level)
    from .railway import Railway

    try:
        server = RailsimServer(Railway(settings.seed, settings.era), settings.host, settings.port,
                               settings.path_template, settings.access_log, settings.latency_ms / 1000,
                               settings.hang_share)
    except OSError as exc:
        print(f"pnr-railsim: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    stopped_by: list[str] = []

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        stopped_by.append(signal.Signals(signum).name)
        server.stop()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    host, port = server.address
    log.info("serving seed %d, era %s on http://%s:%d%s", settings.seed, settings.era, host, port,
             settings.path_template)
    server.serve()
    log.info("stopped (%s)", ", ".join(stopped_by) or "asked to")
    return 0


if __name__ == "__main__":
    sys.exit(main())
