"""The batch jobs: long-running loops (`--every`) that supervisord runs through `pnr-job NAME`
(app/jobs/main.py), and the one-off commands of the same entry point (seed, evaluate,
import-outcomes). No job imports Flask or the web app; each command imports only its own module."""
