"""The project's exception hierarchy, in one place at the bottom of the import graph.

:class:`UserError` and its subclasses are errors the user can fix (a missing path, an unreadable image, weights
that do not match the model, an option this machine cannot honour). The command line prints them as one line
and exits with status 2; the service answers them with a 4xx and the message. Anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ImageLoadError",
    "InputError",
    "OpenVGGTError",
    "OutputExistsError",
    "SceneError",
    "UserError",
]


class OpenVGGTError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(OpenVGGTError):
    """An error caused by the user's input or options; reported as a single line."""


class InputError(UserError):
    """Bad input: a missing path, an empty folder, an undecodable video, wrong options."""


class OutputExistsError(UserError):
    """The output folder exists and ``overwrite`` was not given."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint could not be found, read, or does not match the model."""


class ImageLoadError(UserError, ValueError):
    """An image could not be read or decoded (the message names the file)."""


class SceneError(UserError, ValueError):
    """A scene folder (cameras.json, COLMAP model, TUM sequence) is missing pieces or inconsistent."""
