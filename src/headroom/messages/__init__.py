"""Messages: the drafts a play sends, rendered from templates beside the playbook."""

from headroom.messages.templates import Message, Templates, load_templates

__all__ = ["Message", "Templates", "load_templates"]
