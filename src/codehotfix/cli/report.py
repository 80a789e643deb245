"""codehotfix report commands (being written)."""
