"""Maintenance scripts that regenerate the project's committed files (seeds) from packages."""
