"""Kernel websockets with TCP_NODELAY.

Tornado turns Nagle's algorithm back on once a websocket is open, so after the first small frame of a
reply (status: busy) the rest waits for the client's delayed ACK: ~40 ms per execution, measured on
the testbed (bench/). Remote kernels reach the browser through the user's Jupyter Server, so its
websocket is on their path; local kernels gain the same.
"""


def with_nodelay(connection_class):
    """A subclass of the configured kernel websocket connection class that sets TCP_NODELAY."""
    if getattr(connection_class, "_slurm_kernels_nodelay", False):
        return connection_class

    class NoDelayWebsocketConnection(connection_class):
        _slurm_kernels_nodelay = True

        def connect(self):
            self.websocket_handler.set_nodelay(True)
            return super().connect()

    NoDelayWebsocketConnection.__name__ = f"NoDelay{connection_class.__name__}"
    return NoDelayWebsocketConnection
