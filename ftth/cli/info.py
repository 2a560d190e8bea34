"""``ftth profiles`` and ``ftth list``: what the emulator knows by name."""
