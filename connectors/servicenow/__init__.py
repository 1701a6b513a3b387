"""ServiceNow adapters (Knowledge Management as a knowledge source)."""

from connectors.servicenow.knowledge import ServiceNowKnowledgeSource

__all__ = ["ServiceNowKnowledgeSource"]
