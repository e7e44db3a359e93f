"""Shared test setup: fixture modules in tests/fixtures are loaded for every test."""

pytest_plugins = [
    "tests.fixtures.videos",
    "tests.fixtures.real",
    "tests.fixtures.viewer",
    "tests.fixtures.live",
    "tests.fixtures.demo",
]
