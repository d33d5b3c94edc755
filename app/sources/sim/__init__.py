"""The railway simulator behind `app.sources.simulator`: trains, demand, inventories, charting, PNRs."""
