"""The ``locator`` command line: the click group and station commands (:mod:`.main`),
planning commands (:mod:`.coverage`) and the demo (:mod:`.demo`)."""

from .main import main

__all__ = ["main"]
