"""Memory: the append-only daily logs (and, later, topic files and autoDream)."""
