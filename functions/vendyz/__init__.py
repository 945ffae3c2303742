"""Vendyz Flash Sale: the Lambda code. One shared core, one folder per service.

Importing the package holds the garbage collector back for the cold start. An init builds
~100-170k objects (modules, classes, pydantic schemas), nearly all of them kept for the
instance's life; the collector's passes over them during the init cost ~10% of it (measured:
45 of 470 ms for auth) and give back no memory that shows (RSS after init is the same). Until
the handler is built, a pass waits for INIT_GC_THRESHOLD new objects instead of 700: more than
an init creates, yet a bound for a process that imports vendyz without building a handler
(tests, tools). `end_init` restores the usual thresholds.
"""

import gc

INIT_GC_THRESHOLD = 300_000

_USUAL_GC_THRESHOLDS = gc.get_threshold()
gc.set_threshold(INIT_GC_THRESHOLD, *_USUAL_GC_THRESHOLDS[1:])


def end_init() -> None:
    """The handler is built (vendyz.core.observability.Observability.instrument): freeze what
    init made, so no later pass scans it again (a full one would add ~50 ms to some request),
    and collect as usual from now on. The init's own cyclic garbage is frozen with it."""
    gc.freeze()
    gc.set_threshold(*_USUAL_GC_THRESHOLDS)
