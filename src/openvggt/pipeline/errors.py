"""Errors of the pipeline that the user can fix; the CLI prints them as one line (exit code 2)."""

from __future__ import annotations

from openvggt.cli import UserError

__all__ = ["InputError", "OutputExistsError", "UserError"]


class InputError(UserError):
    """Bad input: a missing path, an empty folder, an undecodable video, wrong options."""


class OutputExistsError(UserError):
    """The output folder exists and ``overwrite`` was not given."""
