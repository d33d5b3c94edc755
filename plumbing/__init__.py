"""Process plumbing every kind of pnr.me process shares: the web app, the jobs, the predictor, the
simulator and the alert listeners start, log, read settings and die the same way.

It imports nothing of the kit's own packages (app, predictor, railsim), only the standard library,
so the smallest process can use it.
"""
