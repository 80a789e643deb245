"""codehotfix serve commands (being written)."""
