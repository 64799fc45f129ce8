"""Queue backends, one module each: ``local`` (SQLite on disk), ``rest`` (Cloudflare's API), ``workers``
(the binding, under Pyodide). They never import each other; the public classes import the one they need,
when they need it, so importing the package pulls in none of them."""
