"""railsim: the railway simulator, as a library (`Railway`) and as the program `pnr-railsim`.

It answers "status of PNR X at time t" in a public PNR-API shape (ConfirmTkt's, see `render`) and
generates the charted journeys the predictor learns from. It never imports the site (`app`) nor the
predictor: the site reads it over HTTP like any status API, the jobs use the library.
"""
