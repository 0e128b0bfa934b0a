"""The built-in channel kinds, registered through :func:`~headroom.delivery.channels.channel_kind`
like any other: importing this module is all it takes."""

from headroom.delivery import hubspot, slack, smtp, webhook

__all__ = ["hubspot", "slack", "smtp", "webhook"]
