"""codehotfix effects commands (being written)."""
