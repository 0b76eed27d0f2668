"""Blob stores: image files by key, on local disk or in an S3-compatible bucket."""
