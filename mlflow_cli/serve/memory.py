"""Process memory settings for a long-lived server: called when the server starts and after a
hot reload (serve/app.py: ServeState). Standard library only (gc, ctypes); no mlw imports.
"""

from __future__ import annotations


def settle_heap() -> None:
    """Move everything alive now (modules, the app, the model) out of the garbage collector's
    view. The collector otherwise walks those hundreds of thousands of objects whenever a large
    request allocates enough: a 10,000-row request then took 140 ms instead of 40. What a
    request allocates is still collected. After a hot reload, the previous freeze is undone
    first, so a replaced model is collected once no request holds it."""
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest; blocks up to this size come from the heap
TRIM_THRESHOLD = 128 * 1024 * 1024  # freed memory kept for reuse before any is returned to the kernel
ARENA_MAX = 2  # malloc arenas (glibc's default is 8 per core), each of which may keep TRIM_THRESHOLD


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for the next request instead of returning it to the
    kernel. By default a block over 128 KB-32 MB is mapped fresh and unmapped when freed, and every
    page of a fresh mapping costs a page fault on first touch. A 10,000-row request allocates tens
    of MB (the body, simdjson's padded copy and tape, the matrix, the response), and those faults
    took 8-14 ms of a 28 ms request on this VM. Costs up to TRIM_THRESHOLD of resident memory per
    malloc arena after a burst of large requests, so the arenas are capped at ARENA_MAX (common
    advice for Python servers anyway: the interpreter's lock serialises most allocation).
    True when applied (glibc); elsewhere nothing."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # from glibc's malloc.h
    return all([mallopt(m_mmap_threshold, MMAP_THRESHOLD), mallopt(m_trim_threshold, TRIM_THRESHOLD),
                mallopt(m_arena_max, ARENA_MAX)])
