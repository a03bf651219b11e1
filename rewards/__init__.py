"""Built-in reward plugins (imported as ``memrl.rewards``); importing registers them.

Each is in TRL's ``reward_funcs`` shape (called by keyword, ``**kwargs`` for the rest): it reads
the final reply from ``completions`` in TRL's conversational form (plain strings work too, through
:func:`memrl.scoring.completion_text`) and its gold from a task column (``answer``, ``answers``,
``category``), or memrl's ``outcome`` (the ``agemem_*`` terms), so TRL's GRPOTrainer can call the
ones that read task columns unchanged.
"""

from memrl.rewards import agemem, format, locomo, match  # noqa: F401  (registration on import)
