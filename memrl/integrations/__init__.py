"""memrl inside other trainers: its environments in TRL's own multi-turn GRPO (``memrl.integrations.trl``).

Importing this package is cheap; torch, transformers and TRL load only when an adapter is used.
"""
