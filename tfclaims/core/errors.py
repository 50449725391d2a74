"""The product's errors. The CLI maps them to exit codes: InputError -> 2; anything else -> 1."""

from __future__ import annotations


class TfclaimsError(Exception):
    """Base class."""


class InputError(TfclaimsError):
    """Bad input or bad arguments: the message names the file, sheet, row and column where it can."""


class ConfigError(InputError):
    """A config, framework or plan file is wrong (unknown key, bad value)."""


class OutputValidationError(TfclaimsError):
    """An output table failed its own schema: a bug, reported as an internal error (exit 1)."""
