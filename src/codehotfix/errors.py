"""The package's exceptions: one base class so callers can catch everything codehotfix raises."""

__all__ = ["CodehotfixError", "ConfigError", "DataError", "ModelError", "AdapterLoadError", "PathError"]


class CodehotfixError(Exception):
    """Base class of every error codehotfix raises on purpose."""


class ConfigError(CodehotfixError):
    """A configuration file or override is invalid; the message lists every problem found."""


class DataError(CodehotfixError):
    """Input data is malformed; the message names the file, the line and the field."""


class ModelError(CodehotfixError):
    """A model cannot be found, installed or loaded; the message says how to fix it."""


class AdapterLoadError(ModelError):
    """A hotfix folder cannot be put on the model (not a hotfix, wrong checksum, weights that match
    nothing, or a kind of adapter the caller cannot use); raised by ``models.adapters.loading``."""


class PathError(CodehotfixError):
    """An output path cannot be written: it is a folder where a file is wanted (or the reverse), it
    lies under a file, or it is not a regular file; the message names the option and the path."""
