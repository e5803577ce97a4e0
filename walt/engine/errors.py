"""The errors the engine raises for bad input or a failed run; ``tools/train.py`` prints them as one ``error: ...``
line and exits with the error's ``exit_code``."""
from __future__ import annotations


class WaltError(Exception):
    """Base class: a problem with the user's input (config, checkpoint, work dir), not a bug in walt."""

    exit_code = 1


class ConfigError(WaltError):
    """A config file that is missing or malformed, a key that does not exist, an unknown name, a missing file it
    names (data root, weights, statistics), a setting that differs from the checkpoint being resumed."""


class CheckpointError(WaltError):
    """A checkpoint that is missing, unreadable, corrupt, or does not fit the model."""


class WorkDirError(WaltError):
    """A work directory that cannot be created or written."""


class NonFiniteLossError(WaltError):
    """Training produced a NaN/inf loss or gradient norm; names the step. The last good checkpoint is kept. Its own
    exit code, so a job script can tell a diverged run from bad input."""

    exit_code = 3
