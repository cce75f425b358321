"""Money and periods (TT-16): currency, report rounding, rates and locked periods:
`inputs`, `service`, `resources` (the namespace; the only module here that imports Flask)."""
