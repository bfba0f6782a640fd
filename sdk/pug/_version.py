"""The version of the pug package, kept apart so that every module can import it."""

from __future__ import annotations

__version__ = "0.1.0"
