"""Zendesk adapters (Guide / Help Center as a knowledge source)."""

from connectors.zendesk.guide import ZendeskGuideSource

__all__ = ["ZendeskGuideSource"]
