"""Python kernels for the book's pages and the briefs: started one way, with no secret in their environment.

Both callers keep a kernel for many notebooks, so each starts with no output history (a kernel
that runs thousands of briefs keeps none of them) and an in-memory command history (no SQLite
file shared by kernels started together).  Kernels talk over IPC sockets in a private folder:
no TCP ports to race for when workers start together (papermill #511), and no unencrypted TCP.
A kernel that fails to start is tried again, twice, after a short pause.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["SECRET_NAMES", "kernel_env", "launch_kernel", "run_sync"]

# Environment variables a kernel never inherits: no page or brief needs a secret.
SECRET_NAMES = re.compile(r"API_KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
KERNEL_ARGUMENTS = ["--InteractiveShell.cache_size=0", "--HistoryManager.hist_file=:memory:"]
START_ATTEMPTS = 3


def kernel_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a kernel gets: the caller's, without anything that looks like a secret."""
    return {k: v for k, v in environ.items() if not SECRET_NAMES.search(k)}


async def launch_kernel(root: Path, socket_prefix: str) -> Any:
    """Start a Python kernel in ``root`` (an ``AsyncKernelManager``; launched, not yet ready).

    An async kernel manager, as papermill's own: its clients let nbclient notice a kernel that
    died (a blocking client would wait for its output until the cell timeout).  ``socket_prefix``
    is a path in a private folder; each attempt adds its number.
    """
    from jupyter_client import AsyncKernelManager

    for attempt in range(START_ATTEMPTS):
        km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=f"{socket_prefix}-{attempt}")
        try:
            await km.start_kernel(cwd=str(root), env=kernel_env(os.environ), extra_arguments=KERNEL_ARGUMENTS)
            return km
        except Exception:
            if attempt == START_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def run_sync(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an async method (of a kernel manager) from synchronous code, on this thread's event loop."""
    from jupyter_core.utils import run_sync as _run_sync

    return _run_sync(method)(*args, **kwargs)
