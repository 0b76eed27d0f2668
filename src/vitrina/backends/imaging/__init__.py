"""Image processing: sniffing, checks, variants, border colour."""
