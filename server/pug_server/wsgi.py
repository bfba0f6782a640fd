"""The WSGI application for gunicorn: ``gunicorn pug_server.wsgi:app``."""

from pug_server import create_app

app = create_app()
