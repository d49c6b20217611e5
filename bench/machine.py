"""Shared by the bench scripts: the machine they ran on, and their markdown tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_model", "cpu_count", "markdown_table"]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def markdown_table(head, rows) -> list[str]:
    """Lines of a markdown table with header ``head`` and rows of text cells."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]
