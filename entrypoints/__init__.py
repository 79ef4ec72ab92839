"""The outer layer: settings, composition root, HTTP app and CLI. The only layer that knows
FastAPI, pydantic and dependency-injector."""
