"""Microsoft Graph adapters."""

from connectors.msgraph.identity import GraphIdentityProvider

__all__ = ["GraphIdentityProvider"]
