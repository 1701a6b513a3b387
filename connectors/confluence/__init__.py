"""Confluence Cloud as a knowledge source."""

from connectors.confluence.source import ConfluenceKnowledgeSource

__all__ = ["ConfluenceKnowledgeSource"]
