"""cap-cloudflare-r2 (skeleton: its issue fills it in)."""
