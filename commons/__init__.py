"""Shared code of the API, the events app, migrations and cli.py."""
