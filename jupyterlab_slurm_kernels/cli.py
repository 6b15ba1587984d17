"""`slurm-kernels`, the console script: runs the companion's CLI (the bundled main.js) with the
Node.js that `_node.find_node()` picks, passing argv through. It execs Node, so exit codes and
signals are Node's own."""

from __future__ import annotations

import os
import sys

from . import _companion_main
from ._node import NodeNotFound, find_node


def main() -> None:
    try:
        node = find_node()
        script = _companion_main()
    except (NodeNotFound, FileNotFoundError) as err:
        sys.stderr.write(f"slurm-kernels: {err}\n")
        sys.exit(1)
    os.execv(node.path, [node.path, script, *sys.argv[1:]])


if __name__ == "__main__":
    main()
