"""Kernel output through a Jupyter server without Nagle, without copies, and heard once.

A remote kernel's messages cross two Jupyter servers: the Kernel Gateway in the job and the user's
own Jupyter Server. Both use this module: the server extension of this package wraps the user's
connection class and kernel manager, and the companion copies this file beside the gateway's config
in the job.

- TCP_NODELAY: Tornado turns Nagle back on once a websocket is open, so after the first small frame
  of a reply the rest waits for the client's delayed ACK, ~40 ms per execution (bench/).
- No copies on the v1 protocol: jupyter_server receives each ZMQ frame as bytes (one copy), joins the
  parts into one v1 message (a second) and Tornado prepends the frame header (a third). Here large
  frames stay in ZMQ's buffers and go to the socket as they are, behind one small header: 100 MiB of
  output crosses each server ~0.15 s sooner on the testbed.
- Output heard once: besides each websocket, jupyter_server subscribes one more IOPub socket to every
  kernel only to note activity and the execution state, and checks the HMAC of all it hears. So
  every output crossed ZMQ twice and was hashed again on the server's event loop, in the gateway and
  in the user's server alike. Once a kernel's first status message shows the topic it publishes
  status on, that socket subscribes to this topic alone: 100 MiB of output reached the client ~0.6 s
  sooner on the testbed, and the execution state is tracked as before.

Only this module relies on jupyter_server's, Tornado's and pyzmq's internals (`_on_zmq_reply`,
`ws_connection.stream`, `_activity_stream`, `ZMQStream._recv_callback`); where they are not what it
expects, the base class does the work.
"""

import json
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


def status_only_activity(manager_class, applies=lambda kernel_name: True):
    """A subclass of a kernel manager class whose activity watchers hear only status messages."""

    class StatusOnlyActivityKernelManager(manager_class):
        def start_watching_activity(self, kernel_id):
            super().start_watching_activity(kernel_id)
            kernel = self._kernels.get(kernel_id)
            if kernel is not None and applies(getattr(kernel, "kernel_name", "")):
                hear_only_status(kernel)

    StatusOnlyActivityKernelManager.__name__ = f"StatusOnlyActivity{manager_class.__name__}"
    StatusOnlyActivityKernelManager.__qualname__ = StatusOnlyActivityKernelManager.__name__
    return StatusOnlyActivityKernelManager


def hear_only_status(kernel):
    """Narrows a kernel's activity watcher to the IOPub topic of its status messages.

    It hears everything until a status message shows the topic, then subscribes to that alone. A
    restarted kernel process may publish on another topic (ipykernel names it after the process), so
    a restart, asked for or automatic, makes the watcher hear everything again until a status
    message of another session (the new process) shows the new topic.
    """
    stream = getattr(kernel, "_activity_stream", None)
    record = getattr(stream, "_recv_callback", None)
    if record is None:
        return  # not the jupyter_server or pyzmq this was written for: the watcher hears everything
    # ZMQ counts subscriptions: jupyter_client subscribed to everything (b"") once, so that is undone
    # once when a topic is learned, and done once when it is forgotten.
    learned = {"session": None, "topic": None}

    def learn_status_topic():
        if stream.closed():
            return
        if learned["topic"] is not None:
            stream.socket.subscribe(b"")
            stream.socket.unsubscribe(learned["topic"])
            learned["topic"] = None
        stale_session = learned["session"]

        def record_and_learn(msg_list):
            record(msg_list)
            topic, session = status_topic(msg_list)
            if topic and session != stale_session and not stream.closed():
                learned.update(session=session, topic=topic)
                stream.socket.subscribe(topic)
                stream.socket.unsubscribe(b"")
                stream.on_recv(record)

        stream.on_recv(record_and_learn)

    restart_wrapped = hasattr(kernel, "_slurm_kernels_learn_status_topic")
    kernel._slurm_kernels_learn_status_topic = learn_status_topic  # this stream's, after a new one
    if not restart_wrapped:
        restart = kernel.restart_kernel

        def restart_kernel(*args, **kwargs):
            # Both Jupyter's restart and the automatic one after a crash come through here.
            kernel._slurm_kernels_learn_status_topic()
            return restart(*args, **kwargs)

        kernel.restart_kernel = restart_kernel
    learn_status_topic()


def status_topic(msg_list):
    """(topic, session) of a status message as published on IOPub; (None, None) for any other."""
    if len(msg_list) < 4 or bytes(msg_list[1]) != b"<IDS|MSG>" or not msg_list[0]:
        return None, None
    try:
        header = json.loads(bytes(msg_list[3]))
    except ValueError:
        return None, None
    if not isinstance(header, dict) or header.get("msg_type") != "status":
        return None, None
    return bytes(msg_list[0]), header.get("session")
