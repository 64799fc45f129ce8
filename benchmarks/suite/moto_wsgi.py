"""moto's S3 API as a WSGI app, for a server that keeps connections open (``moto_keepalive``)."""

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
