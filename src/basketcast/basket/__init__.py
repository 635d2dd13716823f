"""basket."""
