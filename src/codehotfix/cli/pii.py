"""codehotfix pii commands (being written)."""
