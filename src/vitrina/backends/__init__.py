"""Back ends: the seams implemented (SQL, files and buckets, images, downloads)."""
