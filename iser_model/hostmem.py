"""Keep freed CPU memory in the process for the next tensor (glibc malloc settings).

glibc serves every allocation above its mmap threshold (32 MiB at most) with a fresh ``mmap`` and
hands it back with ``munmap`` when freed, so the next one of the same size faults in every page again
(the kernel zeroes each 4 KiB page). ISER on the CPU allocates such tensors all the time: SEA's
prefix tables are (B, heads, n, n+1, 1+d_h) and the per-span BiGRU input is (spans, n, d). Measured on
this project's 2-core machine: half of a CMeIE training step (batch 32) was kernel time spent on page
faults (12 million in 3 steps); MiniLM inference over CoNLL04 dev at batch 32 went from 3.1 to 5.6
sentences/s with the setting below (``docs/results.md``, CPU section).

The price: the process keeps its peak heap instead of returning it to the system between steps
(about 1 GB more resident memory for that MiniLM inference). ``IserConfig.reuse_host_memory`` turns it
off. Applying it is process-wide and cannot be undone: glibc has no call to restore its adaptive
thresholds.
"""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

# mallopt(3) parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: keep up to this much free memory at the top of the heap (mallopt takes an int: 2 GiB - 1 at most)
TRIM_THRESHOLD = 2**31 - 1

_applied = False


def reuse_freed_memory() -> bool:
    """Serve large allocations from the heap (no per-tensor mmap/munmap) and keep freed memory for reuse.

    Returns whether the setting is in force; False where the C library is not glibc (musl, macOS,
    Windows), which is left as it is.
    """
    global _applied
    if _applied:
        return True
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process' own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # trim first: once mmap is off, a low trim threshold would hand the top of the heap back instead
    _applied = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mallopt(_M_MMAP_MAX, 0) == 1
    if _applied:
        log.debug("glibc malloc: no mmap for large blocks, trim threshold %d bytes", TRIM_THRESHOLD)
    return _applied
