"""dcrsync: OAuth 2.0 / OpenID Connect clients kept in sync with YAML in git."""

__version__ = "0.1.0"
