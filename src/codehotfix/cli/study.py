"""codehotfix study commands (being written)."""
