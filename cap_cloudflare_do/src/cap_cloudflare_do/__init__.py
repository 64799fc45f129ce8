"""cap-cloudflare-do (skeleton: its issue fills it in)."""

__version__ = "0.1.0"
