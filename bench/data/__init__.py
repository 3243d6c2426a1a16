"""Data: datasets registry (layouts: detect + load), labels (label spaces by wnid), images (decode), transforms (TransformSpec), loaders (CPU / GPU-decode paths)."""
