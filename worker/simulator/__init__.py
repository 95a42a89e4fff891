"""FastPix simulator (placeholder docstring, replaced below)."""
