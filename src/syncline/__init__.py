"""syncline: the lifecycle hub for users, things and their links."""

__version__ = "0.1.0"
