"""Deskpilot service processes: web app, Slack bot, workers, and their domains."""

__version__ = "0.1.0"
