"""What the job's GPUs are, and what they are doing, served by the job's own gateway.

The companion copies this file beside the gateway's configuration in the job; the configuration
calls `serve_gpus`. It runs in the gateway's process, in the batch step: the step that holds the
job's GPUs, whose environment the kernels inherit.

- The evidence for the binding check, read once at start: CUDA_VISIBLE_DEVICES and Slurm's GPU
  variables as the kernels will have them, and nvidia-smi's list of the devices the node lets the
  job see (NVML ignores CUDA_VISIBLE_DEVICES; only a device cgroup narrows it).
- Samples from one long-lived `nvidia-smi --query-gpu … -lms N`: no process per sample (one call
  can cost seconds on a node without persistence mode). The last hour is kept here, with when each
  GPU was last busy, so a companion that restarts or reconnects loses nothing.
- Both at GET /api/slurm-kernels/gpus, behind the gateway's token, over the connection the
  companion already has: no extra ssh, no Slurm call, nothing that outlives the gateway (the
  sampler gets SIGTERM when the gateway's process goes, however it goes).

The companion parses the CSV (its parsers read every "[...]" cell as no value); here only the
utilisation column is read, to know when each GPU was last busy.
"""

import collections
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time

ROUTE = r"/api/slurm-kernels/gpus"
# How many rounds are kept: an hour at the default 5 s, for the lists' charts after a reconnect.
KEPT_ROUNDS = 720
# How many rounds a first request gets, and any request at most.
FIRST_ROUNDS = 60
MAX_ROUNDS = 240
SLURM_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "GPU_DEVICE_ORDINAL")
try:
    # Resolved here, not in a forked child: a dlopen there could wait on a lock another thread held.
    PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    # prctl(int, unsigned long, ...): without argtypes the signal would go as a C int.
    PRCTL.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
except (OSError, AttributeError):
    PRCTL = None  # not Linux: the job's end stops the sampler


# Python forks with preexec_fn one at a time: two threads doing so at once can deadlock.
SPAWNING = threading.Lock()


def now_ms():
    return int(time.time() * 1000)


def die_with_parent():
    """In the child, before exec: SIGTERM when the gateway's thread that started it ends."""
    if PRCTL is not None:
        PRCTL(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def busy_or_unknown(cell):
    """Utilisation above 0, or no value ("[N/A]" on MIG): either way, not idle."""
    try:
        return float(cell) > 0
    except ValueError:
        return True


class GpuReport:
    """The evidence, read once, and the sampler's rounds."""

    def __init__(self, device_fields, sample_fields, interval_ms):
        self.device_fields = device_fields
        self.sample_fields = sample_fields
        self.interval_ms = interval_ms
        self.nvidia_smi = shutil.which("nvidia-smi")
        self.environment = {
            name: os.environ.get(name) for name in ("CUDA_VISIBLE_DEVICES", *SLURM_VARIABLES)
        }
        self.devices = None  # {"csv": text} or {"error": text}; None while nvidia-smi runs
        self.rounds = collections.deque(maxlen=KEPT_ROUNDS)
        self.seq = 0
        self.since = now_ms()
        self.last_busy = {}  # uuid -> ms of the last round it was busy in (or did not say)
        self.sampler = {"state": "starting" if self.nvidia_smi else "absent", "message": None}
        self.process = None  # the sampler's nvidia-smi, while it runs
        self.lock = threading.Lock()

    def start(self):
        if not self.nvidia_smi:
            self.devices = {"error": "nvidia-smi is not on the job's PATH"}
            return
        threading.Thread(target=self.read_devices, name="slurm-kernels-gpus", daemon=True).start()
        threading.Thread(target=self.sample, name="slurm-kernels-sampler", daemon=True).start()

    def query(self, fields, *loop):
        return [
            self.nvidia_smi,
            "--query-gpu=" + ",".join(fields),
            "--format=csv,noheader,nounits",
            *loop,
        ]

    def read_devices(self):
        try:
            with SPAWNING:
                done = subprocess.Popen(
                    self.query(self.device_fields),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    errors="replace",
                    preexec_fn=die_with_parent,
                )
            try:
                stdout, stderr = done.communicate(timeout=120)
            except subprocess.TimeoutExpired as err:
                done.kill()
                done.communicate()
                self.devices = {"error": str(err)}
                return
            done = subprocess.CompletedProcess(done.args, done.returncode, stdout, stderr)
        except OSError as err:
            self.devices = {"error": str(err)}
            return
        if "No devices were found" in done.stdout:
            # A device cgroup (or filter) that hides every GPU: a list, empty, not a failure.
            self.devices = {"csv": ""}
        elif done.returncode != 0:
            said = (done.stdout + done.stderr).strip().splitlines()
            self.devices = {"error": said[-1] if said else f"exit code {done.returncode}"}
        else:
            self.devices = {"csv": done.stdout}

    def sample(self):
        """Reads the loop's output as long as the gateway runs; starts it again if it stops, less
        and less often (a node whose driver cannot be read stays so)."""
        pause = 30
        while True:
            seq = self.seq
            try:
                with SPAWNING:
                    process = subprocess.Popen(
                        self.query(self.sample_fields, f"-lms={self.interval_ms}"),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,  # its errors: the last line that is no sample
                        stdin=subprocess.DEVNULL,
                        text=True,
                        errors="replace",
                        preexec_fn=die_with_parent,
                    )
                self.follow(process)
            except Exception as err:  # noqa: BLE001 - the sampler must not die with the thread
                self.sampler = {"state": "failed", "message": str(err)}
            # A run that sampled was healthy: its end is a new trouble, not the last one again.
            pause = 30 if self.seq > seq else pause
            time.sleep(pause)
            pause = min(600, pause * 2)

    def follow(self, process):
        self.process = process
        with self.lock:
            # What the GPUs did while no sampler ran is unknown: idle counts from now at the earliest.
            self.since = now_ms()
        self.sampler = {"state": "running", "message": None}
        uuid_at = self.sample_fields.index("uuid")
        busy_at = self.sample_fields.index("utilization.gpu")
        round_lines, round_uuids, other = [], set(), None
        for line in process.stdout:
            line = line.strip()
            cells = [cell.strip() for cell in line.split(",")]
            if len(cells) != len(self.sample_fields):
                other = line or other  # nvidia-smi says why it cannot read the GPUs on stdout
                continue
            # Each round lists every GPU once: a GPU seen again starts the next round.
            if cells[uuid_at] in round_uuids:
                self.add_round(round_lines, busy_at, uuid_at)
                round_lines, round_uuids = [], set()
            round_lines.append(line)
            round_uuids.add(cells[uuid_at])
        process.wait()
        self.sampler = {
            "state": "failed",
            "message": other or f"nvidia-smi exited ({process.returncode})",
        }

    def add_round(self, lines, busy_at, uuid_at):
        at = now_ms()
        with self.lock:
            self.seq += 1
            self.rounds.append({"seq": self.seq, "t": at, "csv": "\n".join(lines)})
            for line in lines:
                cells = [cell.strip() for cell in line.split(",")]
                # Busy, or does not say (MIG reads [N/A]): never counted as idle.
                if busy_or_unknown(cells[busy_at]):
                    self.last_busy[cells[uuid_at]] = at

    def answer(self, since):
        with self.lock:
            if since is None:
                rounds = list(self.rounds)[-FIRST_ROUNDS:]
            else:
                # The newest, after a long outage: the charts end now, not where it began.
                rounds = [r for r in self.rounds if r["seq"] > since][-MAX_ROUNDS:]
            last_busy = dict(self.last_busy)
            seq = self.seq
        return {
            "intervalMs": self.interval_ms,
            "fields": list(self.sample_fields),
            "environment": self.environment,
            "devices": self.devices,
            "deviceFields": list(self.device_fields),
            "sampler": self.sampler,
            "samplingSince": self.since,
            "lastBusy": last_busy,
            "seq": seq,
            "rounds": rounds,
        }


def handler_class(report, base, *mixins):
    from tornado import web

    class GpusHandler(*mixins, base):
        def get(self):
            since = self.get_query_argument("since", None)
            try:
                since = None if since is None else int(since)
            except ValueError:
                raise web.HTTPError(400, "since: a round number")
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(report.answer(since))

    return GpusHandler


def kernel_gateway_personality(report):
    """The Kernel Gateway's own API personality, plus the GPU route behind its token check."""
    from kernel_gateway import jupyter_websocket
    from kernel_gateway.mixins import JSONErrorsMixin, TokenAuthorizationMixin
    from tornado import web

    handler = handler_class(report, web.RequestHandler, TokenAuthorizationMixin, JSONErrorsMixin)

    def create_personality(*args, **kwargs):
        personality = jupyter_websocket.create_personality(*args, **kwargs)
        create_handlers = personality.create_request_handlers
        personality.create_request_handlers = lambda: [(ROUTE, handler), *create_handlers()]
        return personality

    return create_personality


def jupyter_server_extension(report):
    """For `jupyter server`, where Kernel Gateway is not installed: the route, as an APIHandler."""
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class AuthenticatedGpus(handler_class(report, APIHandler)):
        @web.authenticated
        def get(self):
            return super().get()

    def load(serverapp):
        serverapp.web_app.add_handlers(".*$", [(ROUTE, AuthenticatedGpus)])

    return load


REPORT = None


def serve_gpus(c, device_fields, sample_fields, interval_ms):
    """Called by the gateway's configuration: starts reading and sampling, and adds the route."""
    global REPORT
    REPORT = GpuReport(device_fields, sample_fields, interval_ms)
    REPORT.start()
    c.KernelGatewayApp.api = __name__
    c.ServerApp.jpserver_extensions = {__name__: True}


def create_personality(*args, **kwargs):
    """Kernel Gateway's `api` module hook (KernelGatewayApp.api names this module)."""
    return kernel_gateway_personality(REPORT)(*args, **kwargs)


def _jupyter_server_extension_points():
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp):
    jupyter_server_extension(REPORT)(serverapp)
