"""Data sets and task generators: every env reads its tasks from here, never the reverse.

- where data lives: :mod:`memrl.data.paths` (``data_dir=``, else ``$MEMRL_DATA``, else
  ``~/.cache/memrl/data``); ``memrl data download {locomo,hotpotqa}`` fills it
  (:mod:`memrl.data.download`);
- loaders: :mod:`memrl.data.hotpotqa` (through ``datasets``: a local JSON/JSONL file or the Hub),
  :mod:`memrl.data.locomo` (LoCoMo and conversations of your own in its layout),
  :mod:`memrl.data.corpus` (a JSONL corpus, searchable by BM25);
- generators: :mod:`memrl.data.worlds` (AgeMem), :mod:`memrl.data.documents` (MemAgent),
  :mod:`memrl.data.multiobj` (MEM1, MemAct), :mod:`memrl.data.dialogues` and
  :mod:`memrl.data.conversations` (Memory-R1), all drawing on :mod:`memrl.data.words`;
- :mod:`memrl.data.extract`: facts from conversations that have no annotated ones.

Importing this package is cheap: ``datasets`` loads only when HotpotQA is read.
"""

from memrl.data.paths import data_folder

__all__ = ["data_folder"]
