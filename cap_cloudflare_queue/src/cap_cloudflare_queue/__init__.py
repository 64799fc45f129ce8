"""cap-cloudflare-queue (skeleton: its issue fills it in)."""
