"""The gates: checks that refuse a service before anything is derived for it."""
