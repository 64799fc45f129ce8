"""Writer processes the crash tests kill with SIGKILL (run as ``python -m``), and their shared protocol."""
