"""The visitor-facing site: pages, the JSON API and the error mapping."""
