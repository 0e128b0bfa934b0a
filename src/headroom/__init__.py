"""headroom: find the customers ready to buy more, run the expansion motion, prove its worth."""

__version__ = "0.1.0"
