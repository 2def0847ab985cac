"""Launchers for the real servers the tests run against (see tests/servers/README.md)."""
