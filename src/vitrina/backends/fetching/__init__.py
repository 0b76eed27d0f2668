"""Downloading externalUrl images without letting a caller aim the server at
places it must not reach."""
