"""Keep freed CPU memory in the process for the next tensor (glibc malloc settings).

glibc serves every allocation above its mmap threshold (32 MiB at most) with a fresh ``mmap`` and
hands it back with ``munmap`` when freed, so the next one of the same size faults in every page again
(the kernel zeroes each 4 KiB page). ISER on the CPU allocates such tensors all the time: SEA's
prefix tables are (B, heads, n, n+1, 1+d_h) and the per-span BiGRU input is (spans, n, d).

Measured on this project's 2-core machine (docs/results.md, CPU section): MiniLM inference over
CoNLL04 dev went from 4.7 / 3.7 / 2.8 to 5.7-5.9 / 5.4-6.5 / 5.2-5.7 sentences/s at batch 1 / 8 / 32;
training gained less (CMeIE batch 32: 4.1 to 4.8 sentences/s; MiniLM batch 32: none). The price is a
larger resident heap: freed blocks stay mapped and fragment (peak RSS +35 % for that inference, +20 %
and +45 % for those trainings). Hence ``IserConfig.reuse_host_memory`` defaults to "inference".
Applying it is process-wide and cannot be undone: glibc has no call to restore its adaptive
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
