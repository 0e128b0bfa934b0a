"""Real-time ingest: product events over HTTP (Segment-compatible), kept durably in the state
store, read by every run beside the source's events, and firing event-triggered plays at once."""
