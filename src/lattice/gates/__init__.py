"""Gates: what must hold before anything is produced (authorization, image trust, quota)."""
