"""jupyterlab-slurm-kernels: GPU kernels on a Slurm cluster, straight from JupyterLab.

Python is here only where Jupyter needs it: the prebuilt labextension's paths, the
jupyter-server-proxy entry point that starts the companion (Node) on demand, and a server extension
that makes kernel websockets fast (kernel_ws.py).
"""

import logging
import os
import socket
import sys
from pathlib import Path

from ._node import NodeNotFound, find_node

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "dev"

HERE = Path(__file__).parent.resolve()


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-slurm-kernels"}]


def _jupyter_server_extension_points():
    return [{"module": "jupyterlab_slurm_kernels"}]


# The companion names every kernelspec it publishes so (companion/src/kernelspecs/writer.ts).
REMOTE_KERNELSPEC_PREFIX = "slurm-"


def _load_jupyter_server_extension(server_app):
    """Kernel websockets without Nagle or copies, whatever connection class the server is configured
    with, and remote kernels' output heard once (kernel_ws.py)."""
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    from .kernel_ws import fast_kernel_websocket, status_only_activity

    settings = server_app.web_app.settings
    configured = settings.get("kernel_websocket_connection_class") or ZMQChannelsWebsocketConnection
    settings["kernel_websocket_connection_class"] = fast_kernel_websocket(configured)
    # The kernel manager exists before extensions load: it becomes an instance of the subclass. Only
    # the remote kernels are changed; the user's local kernels are watched as Jupyter watches them.
    manager = server_app.kernel_manager
    try:
        manager.__class__ = status_only_activity(
            type(manager), lambda kernel_name: kernel_name.startswith(REMOTE_KERNELSPEC_PREFIX)
        )
    except TypeError as err:  # a manager class Python cannot swap (its own __slots__)
        server_app.log.warning("jupyterlab_slurm_kernels: activity watchers unchanged: %s", err)


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "slurm-kernels"


def _socket_path() -> str:
    """The companion's socket: one per user and host, in a 0700 directory only the user can enter.

    $XDG_RUNTIME_DIR/slurm-kernels, else <state dir>/hosts/<hostname>: the state dir is often on a
    home shared by several login nodes, whose companions must never share a socket. The same rule
    as the companion's defaultSocketPath (companion/src/state/files.ts).
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        base = Path(runtime) / "slurm-kernels"
    else:
        base = _state_dir() / "hosts" / socket.gethostname()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    return str(base / "companion.sock")


def _companion_main() -> str:
    """The companion's entry script: SLURM_KERNELS_COMPANION; else, in a source checkout, the tsc
    build (so `npm run build` in companion/ is what runs); else the bundle a wheel ships."""
    configured = os.environ.get("SLURM_KERNELS_COMPANION")
    if configured:
        return configured
    for candidate in (
        HERE.parent / "companion" / "dist" / "companion" / "src" / "main.js",  # source checkout
        HERE / "companion" / "main.js",  # bundled in the wheel (companion/scripts/bundle.js)
    ):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(
        "jupyterlab-slurm-kernels: the companion is not built; run `npm run build` in companion/ "
        "or set SLURM_KERNELS_COMPANION to its main.js"
    )


def _companion_command() -> list[str]:
    """The companion's argv, worked out each time jupyter-server-proxy starts it. When it cannot
    run, a stand-in answers on its socket with the reason (_unavailable.py) and the server log
    says it too."""
    try:
        node = find_node()
        script = _companion_main()
    except (NodeNotFound, FileNotFoundError) as err:
        logging.getLogger("ServerApp").error("%s", err)
        said = str(err).replace("{", "{{").replace("}", "}}")  # the argv is a template
        return [sys.executable, "-m", f"{__name__}._unavailable", "{unix_socket}", said]
    # A lab on a laptop drives a cluster over one login: an alias of the user's ssh config.
    cluster = os.environ.get("SLURM_KERNELS_CLUSTER")
    at_cluster = ["--cluster", cluster.replace("{", "{{").replace("}", "}}")] if cluster else []
    return [node.path, script, "serve", "--socket", "{unix_socket}", *at_cluster]


def setup_companion():
    """jupyter-server-proxy entry point: serve the companion under <base_url>/slurm-kernels/.

    It listens on a 0600 unix socket, so only this user's Jupyter Server can reach it, and every
    browser request passes Jupyter's own authentication first.
    """
    return {
        "command": _companion_command,
        "unix_socket": _socket_path(),
        "timeout": 20,
        "absolute_url": False,
        "launcher_entry": {"enabled": False},
        "new_browser_tab": False,
    }
