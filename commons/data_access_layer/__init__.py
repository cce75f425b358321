"""The data-access layer: the repository contract and its engines."""
