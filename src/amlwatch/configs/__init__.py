"""Built-in configuration files (the seed's rules)."""
