"""Use cases: what the API and the commands do, through the seams."""
