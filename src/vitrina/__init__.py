"""vitrina: a self-hosted server that speaks Ecwid's REST API v3 for store
categories and their images."""

__version__ = "0.1.0"
