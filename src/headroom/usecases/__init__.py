"""Use cases: what a person asks headroom to do, whole (run a playbook and record it, check a
playbook), each a function that takes parsed input and returns a typed result.

The command line, the web app and the ingest API parse their input, call one of these and
present what it returns; the work itself (sources, signals, triggers, the state store,
delivery) is done by the packages beneath, which never import this one.
"""
