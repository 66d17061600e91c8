"""Network blocks shared by two or more model plugins (one place for each block)."""
