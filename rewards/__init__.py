"""Built-in reward plugins (imported as ``memrl.rewards``)."""
