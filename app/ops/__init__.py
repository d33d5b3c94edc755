"""Operating the kit, beside the site: the alert listener supervisord runs, the mail sink of the
demo, and the commands behind ./scripts/ctl and ./scripts/deploy (configuration check, status,
deploy). They use the alerts and the settings; the web app and the jobs never import them."""
