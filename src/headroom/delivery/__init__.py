"""Delivery: the outbox in the state store, the worker that empties it, and the channels."""
