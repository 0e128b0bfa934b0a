"""Triggers: stage, eligibility, persistence, cooldown, suppression and timing → decisions."""
