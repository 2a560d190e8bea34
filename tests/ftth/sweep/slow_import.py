"""A module that takes a minute to import: a worker warming it is busy importing (tests of
stopping workers of a pool started ahead that never ran anything)."""

import time

time.sleep(60)
