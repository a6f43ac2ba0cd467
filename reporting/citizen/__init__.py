"""The citizen pages: one blueprint (``blueprint.bp``), its views in ``routes``, ``weekly`` and ``self_service``."""

from . import routes, self_service, weekly  # noqa: F401  (each module adds its views to the blueprint)
from .blueprint import bp

__all__ = ["bp"]
