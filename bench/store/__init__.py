"""Store: the typed result record and the atomic on-disk store with its locks."""
