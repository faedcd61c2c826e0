"""The browser fixtures of tests/support/browser.py for the dashboard's browser tests (here,
not among tests/conftest.py's plugins, so that other tests do not import the demo site)."""

from tests.support.browser import chromium, served_demo

__all__ = ["chromium", "served_demo"]
