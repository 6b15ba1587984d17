"""Kernel websockets without Nagle and without copies of large outputs.

A remote kernel's messages cross two Jupyter servers: the Kernel Gateway in the job and the user's
own Jupyter Server. Both use this module: the server extension of this package wraps the user's
connection class, and the companion copies this file beside the gateway's config in the job.

- TCP_NODELAY: Tornado turns Nagle back on once a websocket is open, so after the first small frame
  of a reply the rest waits for the client's delayed ACK, ~40 ms per execution (bench/).
- No copies on the v1 protocol: jupyter_server receives each ZMQ frame as bytes (one copy), joins the
  parts into one v1 message (a second) and Tornado prepends the frame header (a third). Here large
  frames stay in ZMQ's buffers and go to the socket as they are, behind one small header: 100 MiB of
  output crosses each server ~0.15 s sooner on the testbed.

Only this module relies on jupyter_server's and Tornado's internals (`_on_zmq_reply`,
`ws_connection.stream`); where they are not what it expects, the base class does the work.
"""

from asyncio import Future

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
# Frames above this size are passed on without a copy; smaller ones are cheaper to copy than to track.
LARGE_FRAME = 64 * 1024


def fast_kernel_websocket(connection_class):
    """A subclass of a kernel websocket connection class with TCP_NODELAY and zero-copy v1 output."""
    if getattr(connection_class, "_slurm_kernels_fast", False):
        return connection_class

    class FastKernelWebsocketConnection(connection_class):
        _slurm_kernels_fast = True

        def connect(self):
            self.websocket_handler.set_nodelay(True)
            connected = super().connect()
            if isinstance(connected, Future) and self._passes_frames_through():
                # Runs after the base class subscribed its handler, and replaces it.
                connected.add_done_callback(lambda _: self._receive_without_copies())
            return connected

        def _passes_frames_through(self):
            # Hidden tracebacks are rewritten from the parsed content: that needs bytes.
            return self.subprotocol == V1_PROTOCOL and getattr(
                self.multi_kernel_manager, "allow_tracebacks", True
            )

        def _receive_without_copies(self):
            for stream in self.channels.values():
                if not stream.closed():
                    stream.on_recv_stream(self._on_frames, copy=False)

        def _on_frames(self, stream, frames):
            parts = [f.buffer if len(f) > LARGE_FRAME else f.bytes for f in frames]
            self.handle_outgoing_message(stream, parts)

        def _on_zmq_reply(self, stream, msg_list):
            ws = self.websocket_handler.ws_connection
            if self.subprotocol != V1_PROTOCOL or not _takes_raw_frames(ws) or stream.closed():
                return super()._on_zmq_reply(stream, msg_list)
            try:
                for chunk in _coalesced(websocket_frame_head(stream.channel, msg_list), msg_list):
                    ws.stream.write(chunk)
            except Exception as err:
                # The browser went away, or a frame was cut short and the client is out of step:
                # either way the connection is over, as when it drops.
                self.log.warning("kernel websocket closed while writing: %s", err)
                ws.stream.close()

    FastKernelWebsocketConnection.__name__ = f"Fast{connection_class.__name__}"
    return FastKernelWebsocketConnection


def _takes_raw_frames(ws):
    """Whether a server-side Tornado websocket can take an unmasked, uncompressed frame as is."""
    return (
        ws is not None
        and hasattr(ws, "stream")
        and not ws.is_closing()
        and getattr(ws, "_compressor", None) is None
        and getattr(ws, "mask_outgoing", True) is False
    )


def _coalesced(head, parts):
    """A frame in few writes: small parts joined to what precedes them, large ones as they are."""
    pending = [head]
    for part in parts:
        if len(part) > LARGE_FRAME:
            yield b"".join(pending)
            pending = []
            yield part
        else:
            pending.append(part)
    if pending:
        yield b"".join(pending)


def websocket_frame_head(channel, parts):
    """The websocket frame header and the v1 offsets (jupyter_server `serialize_msg_to_ws_v1`)."""
    name = channel.encode("utf-8")
    offsets = [8 * (len(parts) + 3)]
    offsets.append(offsets[-1] + len(name))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    v1 = b"".join(n.to_bytes(8, "little") for n in [len(offsets), *offsets]) + name
    size = offsets[-1]
    if size < 126:
        frame = bytes([0x82, size])  # FIN + binary; server frames are not masked
    elif size <= 0xFFFF:
        frame = bytes([0x82, 126]) + size.to_bytes(2, "big")
    else:
        frame = bytes([0x82, 127]) + size.to_bytes(8, "big")
    return frame + v1
