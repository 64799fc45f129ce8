"""KV backends, one module each: ``workers`` (the binding, under Pyodide), ``rest`` (Cloudflare's REST
API), ``opendal`` (any OpenDAL operator; ``fs`` is the embedded default). They never import each other
and are imported only by the constructor that needs them."""
