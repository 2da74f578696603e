"""network checks (filled in by the catalog work)."""
