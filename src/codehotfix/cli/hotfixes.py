"""codehotfix hotfixes commands (being written)."""
