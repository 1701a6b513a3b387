"""Property-based (hypothesis) tests of every place bad input enters Deskpilot (issue #10, "Bad input")."""
