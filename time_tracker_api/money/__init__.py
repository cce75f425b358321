"""Money and periods (TT-16): currency, report rounding, rates and locked periods."""

from time_tracker_api.money.resources import ns

__all__ = ["ns"]
