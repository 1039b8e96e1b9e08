"""The one error root: every failure anime-tf reports to a user is an `AnimeTFError`.

Each error class also keeps the built-in type it always had (`ImageError` is
a ValueError, `OutputExistsError` a FileExistsError, ...), so callers that
catch those still work; entry points catch `AnimeTFError` alone and turn it
into a message and an exit code.
"""


class AnimeTFError(Exception):
    """Something anime-tf can explain to the user: bad input, missing weights, a diverged run."""


class ConfigError(AnimeTFError, ValueError):
    """An option or setting that cannot work: a tile smaller than its overlap, an unknown preset."""


class ModelError(AnimeTFError, ValueError):
    """An exported model that cannot be run: unreadable, not an image model, or no runtime for it."""
