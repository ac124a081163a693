"""keep_freed_memory: freed large CPU tensors are reused, not re-mapped and re-faulted (Linux/glibc)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys, torch
from hrm.runtime.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.empty(16 * 2**20).fill_(1.0)  # 64 MB: above glibc's largest mmap threshold
start = faults()
for _ in range(40):
    torch.empty(16 * 2**20).fill_(1.0)
print(json.dumps({"applied": applied, "faults": faults() - start}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_freed_activations_are_reused_without_page_faults():
    off, on = _run("off"), _run("on")
    if not on["applied"]:
        pytest.skip("not glibc")
    pages = 40 * 64 * 2**20 // 4096  # what forty fresh 64 MB mappings fault in
    assert off["faults"] > pages // 2  # the default: every allocation maps and faults in new pages
    assert on["faults"] < pages // 8  # kept: the same heap blocks are reused (a couple fault in once)
