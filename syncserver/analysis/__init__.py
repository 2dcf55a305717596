"""What analysts take away: exports (``export``)."""
