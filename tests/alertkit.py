"""The kit for alert tests: the repo's etc/ under the real supervisord, heavy programs off, and
stand-in programs (tests/standin.py) in etc/conf.d/, where site-local programs go."""
from __future__ import annotations

import shutil
from email.message import EmailMessage
from pathlib import Path

from support import Kit, SmtpSink, wait_for

from app.alerts.mail import MailSettings

HERE = Path(__file__).resolve().parent
LISTENERS = ("crashmail", "alertlistener", "memmon", "httpok")
LISTENERS_UP_DEADLINE_S = 30.0
# Everything that needs the database, a model or the web app stays off unless a test turns it on.
QUIET = {
    "PNR_DB_AUTOSTART": "false",
    "PNR_PREDICTOR_AUTOSTART": "false",
    "PNR_RAILSIM_AUTOSTART": "false",
    "PNR_WEB_AUTOSTART": "false",
    "PNR_TRACKER_AUTOSTART": "false",
    "PNR_TRAINER_AUTOSTART": "false",
    "PNR_JANITOR_AUTOSTART": "false",
    "PNR_OUTBOX_AUTOSTART": "false",
    "PNR_WATCH_TICK": "TICK_5",
    # "resolved" mails only where a test asks for them: a program restarted and up for a minute
    # would add one to the mails the other tests count.
    "PNR_ALERT_RESOLVED_S": "3600",
}


def standin(name: str, args: str, **options: object) -> str:
    """A [program:name] section running tests/standin.py with `args`; options override the defaults."""
    # A crash loop starts Python bare (-S: no site, no editable-install finder) to die fast.
    python = "python -S" if args.startswith("crashloop") else "python"
    settings: dict[str, object] = {
        "command": f"{python} %(here)s/standin.py {args}",
        "autostart": "false",
        "autorestart": "true",
        "startsecs": 1,
        "redirect_stderr": "true",
        "stdout_logfile": f"%(here)s/../../var/log/{name}.log",
        **options,
    }
    return f"[program:{name}]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()) + "\n"


def standin_web(name: str, **options: object) -> str:
    """A [program:name] running the real web app under gunicorn, plus a /boom route that fails."""
    return standin(
        name, "", command='gunicorn --config %(here)s/../gunicorn.conf.py --chdir %(here)s "standin_web:create()"',
        startsecs=2, stopasgroup="true", killasgroup="true", **options,
    )


def alert_kit(root: Path, smtp_port: int, programs: str = "", **env: str) -> Kit:
    """A Kit with `programs` (config text) in etc/conf.d/standins.conf."""
    kit = Kit(root, smtp_port, **{**QUIET, **env})
    conf_d = kit.etc / "conf.d"
    conf_d.mkdir()
    for helper in ("standin.py", "standin_web.py"):
        shutil.copy(HERE / helper, conf_d / helper)
    (conf_d / "standins.conf").write_text(programs)
    return kit


def start(kit: Kit) -> None:
    """Start supervisord and wait until every alert listener runs."""
    kit.start()
    wait_for(
        lambda: all(kit.states().get(n, ("",))[0] == "RUNNING" for n in LISTENERS),
        LISTENERS_UP_DEADLINE_S, "the alert listeners RUNNING", interval_s=0.2,
    )


def start_program(kit: Kit, name: str) -> int:
    """supervisorctl start; returns the pid once RUNNING."""
    result = kit.ctl("start", name)
    assert "started" in result.stdout, result.stdout + result.stderr
    return int(kit.ctl("pid", name).stdout.strip())


def about(sink: SmtpSink, program: str) -> list[EmailMessage]:
    """The alert mails received so far about one program (namespec)."""
    return [m for m in sink.received() if m["X-PNR-Program"] == program]


def text(mail: EmailMessage) -> str:
    """Subject and body, with the wire's CRLF line ends made plain newlines."""
    return f"{mail['Subject']}\n" + mail.get_content().replace("\r\n", "\n")


def count(mails: list[EmailMessage]) -> int:
    """Occurrences the mails account for: 1 per alert, N per digest."""
    return sum(int(m["X-PNR-Count"]) for m in mails)


def mail_settings(port: int, var: Path, **overrides: object) -> MailSettings:
    """Mail settings for in-process tests: the test's SMTP port, spool under `var`."""
    fields: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "security": "none", "user": "", "password": "", "timeout_s": 5.0,
        "sender": "alerts@pnr.test", "recipients": ("oncall@pnr.test",), "spool_dir": var / "spool", **overrides,
    }
    return MailSettings(**fields)  # type: ignore[arg-type]
