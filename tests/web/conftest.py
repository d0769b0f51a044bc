"""Fixtures shared by the browser tests: one Chromium launch recipe (test_usage_site_browser)."""

from tests.web.test_usage_site_browser import browser  # noqa: F401 (a fixture, found by name)
