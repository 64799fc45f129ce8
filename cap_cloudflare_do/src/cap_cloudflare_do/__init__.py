"""cap-cloudflare-do (skeleton: its issue fills it in)."""
