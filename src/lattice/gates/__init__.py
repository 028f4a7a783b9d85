"""The gates: what the platform refuses before anything is produced (authorization, images, quota)."""
