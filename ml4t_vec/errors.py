"""Exceptions raised before any kernel runs. Both subclass ValueError."""

from __future__ import annotations

import difflib


class DataError(ValueError):
    """The input data is unusable as given (missing columns, bad prices, duplicate rows, ...)."""


class ConfigError(ValueError):
    """A parameter is out of range, of the wrong type, or not one of the allowed values."""


class LookAheadWarning(UserWarning):
    """A fill timing that can use information from the bar it fills on."""


class DataWarning(UserWarning):
    """Data used under a documented policy rather than refused (e.g. NaN treated as missing)."""


def did_you_mean(name: str, options) -> str:
    """' Did you mean 'x'?' for the closest option, or '' if nothing is close."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(param: str, value, options) -> None:
    """Raise ConfigError unless ``value`` is one of ``options`` (strings)."""
    if value not in options:
        raise ConfigError(f"`{param}` must be one of {sorted(options)}; got {value!r}.{did_you_mean(value, options)}")
