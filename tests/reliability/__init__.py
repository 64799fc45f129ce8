"""Reliability tests: crashes, bad input, faults and secrets (issue 9)."""
