"""`pnr-mailsink`: the dev/demo SMTP server; stores every mail it receives as a file.

In the demo, alerts and subscriber mail land in var/mail/ instead of the outside world. Tests use
the same server, so what they read is what a real SMTP client delivered.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from plumbing import logs

log = logging.getLogger(__name__)


class MaildirHandler:
    """aiosmtpd handler writing each message atomically to <dir>/<time>-<n>.eml."""

    def __init__(self, maildir: Path):
        self.maildir = maildir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the raw message with its envelope recipients as a header line."""
        with self.lock:
            self.count += 1
            name = f"{time.time_ns()}-{self.count:06d}.eml"
        data = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode() + envelope.original_content
        self.maildir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.maildir, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, self.maildir / name)
        log.info("stored %s for %s", name, ",".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def start(host: str, port: int, maildir: Path) -> Controller:
    """Start the server on a thread; the caller stops it with .stop()."""
    controller = Controller(MaildirHandler(maildir), hostname=host, port=port, decode_data=False)
    controller.start()
    return controller


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="pnr-mailsink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    logs.configure()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        controller = start(args.host, args.port, args.maildir)
    except (OSError, RuntimeError) as exc:
        print(f"pnr-mailsink: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    log.info("listening on %s:%d, storing in %s", args.host, args.port, args.maildir)
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
