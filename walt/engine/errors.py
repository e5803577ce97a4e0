"""The errors the engine raises for bad input; ``tools/train.py`` prints them as one ``error: ...`` line."""
from __future__ import annotations


class WaltError(Exception):
    """Base class: a problem with the user's input (config, checkpoint, work dir), not a bug in walt."""


class ConfigError(WaltError):
    """A config file that is missing or malformed, a ``--cfg-options`` key that does not exist, an unknown name."""


class CheckpointError(WaltError):
    """A checkpoint that is missing, unreadable, corrupt, or does not fit the model."""


class WorkDirError(WaltError):
    """A work directory that cannot be created or written."""


class NonFiniteLossError(WaltError):
    """Training produced a NaN/inf loss or gradient norm; names the step. The last good checkpoint is kept."""
