"""Okta adapters."""

from connectors.okta.identity import OktaIdentityProvider

__all__ = ["OktaIdentityProvider"]
