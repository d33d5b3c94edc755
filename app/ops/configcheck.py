"""`./scripts/ctl check`: the kit's configuration read as supervisord and the kit's processes will.

supervisord has no `-t`: a typo in etc/supervisord.conf or etc/pnr.env shows only when `update` or
a restart fails, with the old configuration still running. This reads etc/pnr.env, then every
supervisor file with those settings the way supervisord expands them, then the kit's own settings
the way its processes coerce them, and names the file, line and setting of each problem.

    python -m app.ops.configcheck [ROOT]     exit 0: fine; exit 2: problems, one per line
"""
from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from supervisor.options import ServerOptions

from .. import config
from ..services.sources import make_source

ENV_FILE = Path("etc") / "pnr.env"
ENV_EXAMPLE = Path("etc") / "pnr.env.example"
SUPERVISOR_FILE = Path("etc") / "supervisord.conf"
EXPANSION = re.compile(r"%\(ENV_([A-Za-z0-9_]+)\)s")
ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# The keys supervisor 4 reads in a program's or an event listener's section (supervisord.org,
# "Configuration File"); any other key is silently ignored by supervisord, so it is a typo here.
PROGRAM_KEYS = frozenset("""
command process_name numprocs numprocs_start priority autostart startsecs startretries autorestart
exitcodes stopsignal stopwaitsecs stopasgroup killasgroup user redirect_stderr stdout_logfile
stdout_logfile_maxbytes stdout_logfile_backups stdout_capture_maxbytes stdout_events_enabled
stdout_syslog stderr_logfile stderr_logfile_maxbytes stderr_logfile_backups stderr_capture_maxbytes
stderr_events_enabled stderr_syslog environment directory umask serverurl
""".split())
LISTENER_KEYS = PROGRAM_KEYS | {"buffer_size", "events", "result_handler"}
# Settings of earlier versions, still found in old env files and harmless there.
RETIRED_SETTINGS = frozenset({"PNR_SUPERVISOR_USER", "PNR_SUPERVISOR_PASSWORD"})
WHOLE_NUMBER_KEYS = frozenset({"numprocs", "numprocs_start", "priority", "startsecs", "startretries",
                               "stopwaitsecs", "buffer_size", "stdout_logfile_backups", "stderr_logfile_backups"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where it is."""

    file: str
    line: int | None
    setting: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.setting}: {self.message}"


def read_env(path: Path, known: frozenset[str] | None) -> tuple[dict[str, str], dict[str, int], list[Problem]]:
    """(settings, line of each, problems) of an env file; unknown PNR_* names are problems."""
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        match = ENV_LINE.match(text)
        if match is None:
            problems.append(Problem(str(path), number, text.split("=", 1)[0], "not a NAME=value line"))
            continue
        name, value = match.groups()
        if known is not None and name.startswith(config.ENV_PREFIX) and name not in known:
            problems.append(Problem(str(path), number, name, "unknown setting (not in etc/pnr.env.example)"))
        values[name], lines[name] = value, number
    return values, lines, problems


def supervisor_files(root: Path) -> list[Path]:
    """etc/supervisord.conf and the files its [include] names."""
    main = root / SUPERVISOR_FILE
    parser = configparser.RawConfigParser()
    parser.read(main, encoding="utf-8")
    files = [main]
    if parser.has_option("include", "files"):
        for pattern in parser.get("include", "files").split():
            files += sorted(main.parent.glob(pattern.replace("%(here)s/", "")))
    return files


def check_supervisor_file(path: Path, env: Mapping[str, str]) -> list[Problem]:
    """Line by line: settings that cannot be expanded, unknown program keys, numbers that are not."""
    problems: list[Problem] = []
    section = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text[0] in ";#":
            continue
        if text.startswith("["):
            section = text.strip("[]")
            continue
        if "=" not in text:
            continue
        key, value = (part.strip() for part in text.split("=", 1))
        for name in EXPANSION.findall(value):
            if name not in env:
                problems.append(Problem(str(path), number, f"{section}.{key}",
                                        f"%(ENV_{name})s cannot be expanded: {name} is not set in etc/pnr.env"))
        kind = section.split(":", 1)[0]
        allowed = PROGRAM_KEYS if kind == "program" else LISTENER_KEYS if kind == "eventlistener" else None
        if allowed is not None and key not in allowed:
            problems.append(Problem(str(path), number, f"{section}.{key}", "unknown key (supervisord would ignore it)"))
        if allowed is not None and key in WHOLE_NUMBER_KEYS:
            expanded = EXPANSION.sub(lambda m: env.get(m.group(1), "0"), value)
            if not re.fullmatch(r"-?\d+", expanded.strip()):
                problems.append(Problem(str(path), number, f"{section}.{key}", f"{expanded!r} is not a whole number"))
    return problems


def check_with_supervisor(root: Path, env: Mapping[str, str]) -> list[Problem]:
    """supervisord's own reading of its configuration, as a last word."""
    options = ServerOptions()
    options.environ_expansions = {f"ENV_{k}": v for k, v in env.items()}
    options.configfile = str(root / SUPERVISOR_FILE)
    try:
        options.process_config_file(do_usage=False)
    except ValueError as exc:
        message = re.sub(r" Available names: .*? in section", " in section", str(exc))
        return [Problem(str(root / SUPERVISOR_FILE), None, "supervisord", message)]
    return []


def check(root: Path, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of the kit's configuration under ROOT."""
    env_path = root / ENV_FILE
    if not env_path.exists():
        return [Problem(str(env_path), None, "etc/pnr.env", "missing: ./scripts/setup writes it from etc/pnr.env.example")]
    example, _lines, _ = read_env(root / ENV_EXAMPLE, None)
    known = frozenset(example) | {config.ENV_PREFIX + name for name in config.SETTINGS} | RETIRED_SETTINGS
    settings, lines, problems = read_env(env_path, known)
    env = {**(os.environ if environ is None else environ), **settings}
    try:
        found = {**config.defaults(), **config.from_env(settings)}
        config.derive(found)
        make_source(found)  # a retired or inconsistent source setting; connects to nothing
    except config.SettingsError as exc:
        name = str(exc).split(":", 1)[0]
        problems.append(Problem(str(env_path), lines.get(name), name, str(exc).split(": ", 1)[1]))
    for path in supervisor_files(root):
        problems += check_supervisor_file(path, env)
    if not problems:
        problems += check_with_supervisor(root, env)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print each problem; exit 2 if there is any, else 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else Path.cwd()
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    print(f"check: {root / SUPERVISOR_FILE} and {root / ENV_FILE} are fine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
