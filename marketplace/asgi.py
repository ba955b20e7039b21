"""The ASGI entry point for servers: `uvicorn marketplace.asgi:app`. The only module that builds an app."""

from marketplace.app import create_app
from marketplace.settings import Settings

app = create_app(Settings.from_environment())
