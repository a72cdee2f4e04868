"""The operator console at /console (router/console/routes.py)."""

from router.console.routes import router

__all__ = ["router"]
