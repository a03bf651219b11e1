"""Built-in reward plugins (imported as ``memrl.rewards``); importing registers them."""

from memrl.rewards import agemem, format, locomo, match  # noqa: F401  (registration on import)
