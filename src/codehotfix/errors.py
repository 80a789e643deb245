"""The package's exceptions: one base class so callers can catch everything codehotfix raises."""

__all__ = ["CodehotfixError", "ConfigError", "DataError", "ModelError"]


class CodehotfixError(Exception):
    """Base class of every error codehotfix raises on purpose."""


class ConfigError(CodehotfixError):
    """A configuration file or override is invalid; the message lists every problem found."""


class DataError(CodehotfixError):
    """Input data is malformed; the message names the file, the line and the field."""


class ModelError(CodehotfixError):
    """A model cannot be found, installed or loaded; the message says how to fix it."""
