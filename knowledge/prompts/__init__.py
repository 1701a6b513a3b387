"""Versioned prompt templates. A change of wording is a new version, so answers can be traced to a prompt."""
