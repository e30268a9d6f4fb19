"""Error types shared across the harness."""

from __future__ import annotations

from typing import Any, Iterable


class ConfigError(ValueError):
    """A configuration value that cannot be used.

    The message always names the config key, the offending value and what is
    allowed, so a user can fix the override without reading code.

    Parameters
    ----------
    key : str
        Dotted config key, e.g. ``"schemes.central.accuracy"``.
    value : Any
        The value found there.
    allowed : str or iterable of str
        What would have been accepted.
    detail : str, optional
        Extra explanation.
    """

    def __init__(self, key: str, value: Any, allowed: str | Iterable[str], detail: str = "") -> None:
        if not isinstance(allowed, str):
            allowed = "one of: " + ", ".join(str(a) for a in allowed)
        self.key, self.value, self.allowed = key, value, allowed
        self.detail = detail
        text = f"config key '{key}' has invalid value {value!r}; allowed: {allowed}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuilt from its own arguments: a joblib or submitit worker sends it back pickled.
        return type(self), (self.key, self.value, self.allowed, self.detail)


class RunDirError(ValueError):
    """A run or sweep folder that cannot be used as asked (another sweep's results, not a folder, ...).

    The message names the folder, what is there and what to do instead.
    """


class ResultsError(ValueError):
    """A stored table that cannot be read as harness results (damaged file, foreign columns).

    The message names the file and what was expected.
    """
