"""cap-cloudflare-kv (skeleton: its issue fills it in)."""
