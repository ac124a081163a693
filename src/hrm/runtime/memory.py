"""CPU allocator policy: keep freed memory in the process for reuse instead of handing it back to the OS.

PyTorch's CPU tensors come from the C library's ``malloc``. glibc serves every block above its mmap threshold
(at most 32 MB) with a fresh ``mmap`` and ``munmap``s it on free, and trims the heap top once it holds more than
twice that. At ARC scale (sequence 900, batch 256) nearly every activation is above 32 MB, so every operation of
every segment maps new pages and the kernel zeroes them on first touch: ``hrm evaluate`` on a toy model spent
about a third of its time in the kernel (minor page faults), not in arithmetic. Serving large blocks from the heap
and never trimming it lets each freed activation be reused by the next operation of the same shape.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Make glibc ``malloc`` keep and reuse freed blocks (no per-block mmap, no heap trimming); True if applied.

    Process-wide and one-way: the process's memory stays at its peak until it exits, which is what a long
    evaluation (or CPU training) wants, as its working set repeats batch after batch. No effect (False) outside
    Linux/glibc (e.g. macOS, musl), where the allocator behaves differently.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. Trimming is effectively off (2 GB of free heap top before giving any back).
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))
    return _applied
