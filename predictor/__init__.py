"""The waitlist predictor: a scipy model (model.py, fit.py) served over ZeroMQ (server.py) and the
Lazy Pirate client the web app uses (client.py). Never imports `app`; importing the package itself
loads neither numpy nor zmq, so the web app pays only for the client."""
