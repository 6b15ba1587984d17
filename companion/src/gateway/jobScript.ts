/**
 * The batch script of an allocation: set up the requested environment, start a Jupyter Kernel
 * Gateway bound to the node's 127.0.0.1 on a port the job picks itself, and write a 0600 rendezvous
 * file the companion reads. The token comes from a 0600 file into the gateway's environment only
 * (never argv); a taken port fails loudly (port_retries=0) and the job tries another one.
 *
 * Every value placed in the script was validated by the request schema and is single-quoted here.
 */
import type { AllocationRequest } from '../../../src/api/allocation';
import { DEVICE_FIELDS, SAMPLE_FIELDS } from '../gpus/nvidiaSmi';
import { METADATA_KEY } from '../kernelspecs/writer';
import type { GatewayModuleName } from './gatewayModules';

export interface IJobFiles {
  /** Directory of this allocation's files on the shared file system (0700). */
  dir: string;
  /** 0600 file holding the gateway token. */
  tokenFile: string;
  /** Where the job writes {host, port, pid, kind, versions} once the gateway listens. */
  rendezvousFile: string;
  /** The gateway's configuration (Python, read by jupyter); the modules it imports lie beside it. */
  gatewayConfig: string;
  /** Touched by every companion in touch with the job; its age drives the job's dead-man's switch. */
  aliveFile: string;
}

/** What the job does on its own, without a companion. */
export interface IJobPolicy {
  /**
   * The dead-man's switch: the job ends itself when no companion has touched `aliveFile` for this
   * long and no kernel is busy (the companion died with its lab, and never came back).
   */
  deadManSeconds: number;
  /** How often the gateway's GPU sampler reads nvidia-smi, in ms. */
  gpuSampleMs: number;
}

export const DEFAULT_JOB_POLICY: IJobPolicy = {
  deadManSeconds: 30 * 60,
  gpuSampleMs: 5_000
};

/** The exit code of a job its dead-man's switch ended. */
export const DEAD_MAN_EXIT = 26;

/** Quotes a value for bash: single quotes, with embedded single quotes closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function buildJobScript(
  request: AllocationRequest,
  files: IJobFiles,
  policy: IJobPolicy = DEFAULT_JOB_POLICY
): string {
  return [
    // A login shell, as the user's own terminal has: the job is submitted with --export=NONE, so
    // PATH, `module` (Lmod) and conda come from the node's profile, not from the lab's environment.
    '#!/bin/bash -l',
    '# Written by jupyterlab-slurm-kernels: a Jupyter Kernel Gateway for this allocation.',
    'set -o pipefail',
    'umask 077',
    // From the first line: a job shorter than the warning's lead gets it at once.
    '# sbatch --signal=B:USR1@300: the time limit is near.',
    `trap 'echo "slurm-kernels: Slurm says the time limit is near; the kernels end with the job"' USR1`,
    `sk_token_file=${shellQuote(files.tokenFile)}`,
    `sk_rendezvous=${shellQuote(files.rendezvousFile)}`,
    `sk_config=${shellQuote(files.gatewayConfig)}`,
    `sk_alive=${shellQuote(files.aliveFile)}`,
    `sk_dead_man_s=${Math.max(1, Math.round(policy.deadManSeconds))}`,
    `sk_gpu_sample_ms=${Math.max(100, Math.round(policy.gpuSampleMs))}`,
    '# A rendezvous left by an earlier run of this job (requeued) names a gateway that is gone.',
    'rm -f "$sk_rendezvous"',
    "# The job starts in touch: the dead-man's switch counts from here until a companion touches it.",
    'touch "$sk_alive"',
    "# srun from a kernel gets the job's whole environment (--export=NONE was for the job alone).",
    'export SLURM_EXPORT_ENV=ALL',
    'echo "slurm-kernels: job $SLURM_JOB_ID on $(hostname), GPUs: ${CUDA_VISIBLE_DEVICES:-none}"',
    '',
    '# The environment asked for.',
    ...environmentLines(request.environment),
    '',
    // Only now: many conda activate scripts read unset variables.
    'set -u',
    GATEWAY_LAUNCHER
  ].join('\n');
}

/**
 * The lines that set the requested environment up (modules, conda, venv, the user's own lines); a
 * failed step exits 20 (module), 21 (conda) or 22 (venv). Also used by `slurm-kernels doctor`, whose
 * test job must set the environment up exactly as this script does.
 */
export function environmentLines(
  env: AllocationRequest['environment']
): string[] {
  const lines: string[] = [];
  if (env.modules.length > 0) {
    lines.push(
      `module load ${env.modules.map(shellQuote).join(' ')} || exit 20`
    );
  }
  if (env.conda) {
    lines.push(
      'eval "$(conda shell.bash hook)" || exit 21',
      `conda activate ${shellQuote(env.conda)} || exit 21`
    );
  }
  if (env.venv) {
    lines.push(
      `source ${shellQuote(`${env.venv.replace(/\/+$/, '')}/bin/activate`)} || exit 22`
    );
  }
  // The user's own lines from their settings, run as written (it is their own job).
  lines.push(...env.init);
  return lines;
}

/**
 * Starts the gateway (Kernel Gateway, or `jupyter server` where only that is installed) on a random
 * port of the node's loopback; retries another port when one is taken; then waits for it.
 */
const GATEWAY_LAUNCHER = String.raw`# The gateway.
if command -v jupyter-kernelgateway >/dev/null; then
    sk_kind=kernelgateway
elif command -v jupyter-server >/dev/null; then
    sk_kind=server
else
    echo "slurm-kernels: neither jupyter-kernelgateway nor jupyter-server is installed in this environment" >&2
    exit 23
fi
# A gateway without its token would let anybody on the node run code as this user: none starts.
if ! sk_token=$(cat "$sk_token_file") || [ -z "$sk_token" ]; then
    echo "slurm-kernels: cannot read the gateway's token from $sk_token_file; no gateway starts without one" >&2
    exit 25
fi
# Node-local scratch for the gateway's runtime files (TMPDIR where the site sets one).
export JUPYTER_RUNTIME_DIR="$(printenv TMPDIR || echo /tmp)/slurm-kernels-$SLURM_JOB_ID"
mkdir -p -m 700 "$JUPYTER_RUNTIME_DIR" "$JUPYTER_RUNTIME_DIR/config"
trap 'rm -rf "$JUPYTER_RUNTIME_DIR"' EXIT
# The gateway reads no Jupyter config of the user's (a base_url or token in ~/.jupyter would break
# it); its configuration gives the kernels the user's settings back.
# Run in the background, it execs: $! is the gateway itself.
sk_isolated() {
    exec env JUPYTER_CONFIG_DIR="$JUPYTER_RUNTIME_DIR/config" JUPYTER_CONFIG_PATH= \
        SLURM_KERNELS_USER_JUPYTER_CONFIG_DIR="$(printenv JUPYTER_CONFIG_DIR)" \
        SLURM_KERNELS_USER_JUPYTER_CONFIG_PATH="$(printenv JUPYTER_CONFIG_PATH)" \
        SLURM_KERNELS_CULL_S="$sk_dead_man_s" SLURM_KERNELS_GPU_SAMPLE_MS="$sk_gpu_sample_ms" "$@"
}

sk_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether a kernel of the gateway is busy (its REST API, with the token, from the job's own Python).
sk_kernel_busy() {
    KG_AUTH_TOKEN="$sk_token" "$(command -v python3 || command -v python)" - "$sk_port" <<'PY'
import json, os, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/kernels",
                             headers={"Authorization": "token " + os.environ["KG_AUTH_TOKEN"]})
try:
    kernels = json.load(urllib.request.urlopen(req, timeout=10))
except Exception:
    sys.exit(0)  # a gateway that does not answer is not known to be idle: keep it
sys.exit(0 if any(k.get("execution_state") == "busy" for k in kernels) else 1)
PY
}

# The dead-man's switch: companions touch $sk_alive while they are in touch with this job. When none
# has for $sk_dead_man_s seconds and no kernel is busy, the job ends itself, saying why: its GPUs
# are not held for a lab that is gone. It needs no companion to act.
sk_dead_man() {
    local main=$$ age
    # Stopped with the job: its own sleep goes with it, never left behind on the node.
    trap 'kill "$sk_nap" 2>/dev/null; exit 0' TERM
    # And it ends with the job script: Slurm without cgroups does not find a process whose parent
    # has gone, so it must not outlive it.
    while kill -0 "$main" 2>/dev/null; do
        sleep 2 &
        sk_nap=$!
        wait "$sk_nap"
        age=$(($(date +%s) - $(stat -c %Y "$sk_alive" 2>/dev/null || echo 0)))
        [ "$age" -ge "$sk_dead_man_s" ] || continue
        sk_kernel_busy && continue
        echo "slurm-kernels: no companion has been in touch for $age s and no kernel is busy: the job ends itself (dead-man's switch, after $sk_dead_man_s s)"
        : >"$JUPYTER_RUNTIME_DIR/dead-man"
        kill -TERM "$sk_pid"
        return
    done
}

# Versions for the rendezvous file, read while the gateway starts (off the critical path).
python3 - >"$JUPYTER_RUNTIME_DIR/versions" 2>/dev/null <<'PY' &
import importlib.metadata as m, platform
found = ["python=" + platform.python_version()]
for name in ("jupyter_server", "jupyter-kernel-gateway", "ipykernel"):
    try:
        found.append(name + "=" + m.version(name))
    except m.PackageNotFoundError:
        pass
print(" ".join(found))
PY
sk_versions_pid=$!

for sk_attempt in 1 2 3 4 5; do
    sk_port=$((20000 + RANDOM % 40000))
    sk_listening "$sk_port" && continue
    if [ "$sk_kind" = kernelgateway ]; then
        KG_AUTH_TOKEN="$sk_token" KG_IP=127.0.0.1 KG_PORT="$sk_port" KG_PORT_RETRIES=0 KG_LIST_KERNELS=True \
            sk_isolated jupyter kernelgateway --config="$sk_config" &
    else
        JUPYTER_TOKEN_FILE="$sk_token_file" sk_isolated jupyter server --config="$sk_config" \
            --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port="$sk_port" --ServerApp.port_retries=0 &
    fi
    sk_pid=$!
    # On scancel, stay until the gateway has stopped: a script that exits first orphans it, and
    # Slurm (without cgroups) no longer finds it to kill.
    trap 'kill -TERM "$sk_pid" 2>/dev/null; wait "$sk_pid"; exit 143' TERM
    # As long as it takes (cold Python on a parallel file system can take minutes), saying so every
    # 15 s: the companion waits while the job log grows.
    sk_ticks=0
    until sk_listening "$sk_port"; do
        kill -0 "$sk_pid" 2>/dev/null || break
        sleep 0.05
        sk_ticks=$((sk_ticks + 1))
        if [ $((sk_ticks % 300)) = 0 ]; then
            echo "slurm-kernels: the gateway is still starting ($((sk_ticks / 20)) s)"
        fi
    done
    if kill -0 "$sk_pid" 2>/dev/null && sk_listening "$sk_port"; then
        wait "$sk_versions_pid" 2>/dev/null
        sk_versions=$(cat "$JUPYTER_RUNTIME_DIR/versions" 2>/dev/null)
        # The job environment's Python runs the srun relay where nodes refuse SSH.
        printf '{"host": "%s", "port": %d, "pid": %d, "kind": "%s", "versions": "%s", "python": "%s"}\n' \
            "$(hostname)" "$sk_port" "$sk_pid" "$sk_kind" "$sk_versions" \
            "$(command -v python3 || command -v python)" >"$sk_rendezvous.tmp"
        mv "$sk_rendezvous.tmp" "$sk_rendezvous"
        sk_dead_man &
        sk_watch_pid=$!
        trap 'kill "$sk_watch_pid" 2>/dev/null; kill -TERM "$sk_pid" 2>/dev/null; wait "$sk_pid"; exit 143' TERM
        # A trapped signal (USR1, the time limit near) ends the wait, not the gateway.
        while :; do
            wait "$sk_pid"
            sk_status=$?
            kill -0 "$sk_pid" 2>/dev/null || break
        done
        kill "$sk_watch_pid" 2>/dev/null
        [ -e "$JUPYTER_RUNTIME_DIR/dead-man" ] && exit ${DEAD_MAN_EXIT}
        exit $sk_status
    fi
    kill "$sk_pid" 2>/dev/null
    wait "$sk_pid" 2>/dev/null
    echo "slurm-kernels: the gateway did not start on port $sk_port (attempt $sk_attempt)" >&2
done
echo "slurm-kernels: the gateway could not start; see the messages above" >&2
exit 24
`;

/** The module names the gateway's configuration imports from its own directory. */
export const KERNEL_WS_MODULE: GatewayModuleName = 'slurm_kernels_ws';
export const GPUS_MODULE: GatewayModuleName = 'slurm_kernels_gpus';

/**
 * The gateway's configuration, read by jupyter on the node. Python because Jupyter's config is. The
 * companion writes `slurm_kernels_ws.py` (jupyterlab_slurm_kernels/kernel_ws.py) beside it.
 */
export const GATEWAY_CONFIG = `# Written by jupyterlab-slurm-kernels.
import json
import os
import sys

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

sys.path.insert(0, os.path.dirname(__file__))
from ${KERNEL_WS_MODULE} import fast_kernel_websocket, status_only_activity  # noqa: E402
from ${GPUS_MODULE} import serve_gpus  # noqa: E402

# The job's GPUs, as its kernels see them, and a sampler of their use: served by this gateway.
serve_gpus(
    c,
    device_fields=${JSON.stringify(DEVICE_FIELDS)},
    sample_fields=${JSON.stringify(SAMPLE_FIELDS)},
    interval_ms=int(os.environ.pop("SLURM_KERNELS_GPU_SAMPLE_MS", "5000") or 5000),
)

# TCP_NODELAY and zero-copy v1 output on the kernel websockets.
for app in ("KernelGatewayApp", "ServerApp"):
    c[app].kernel_websocket_connection_class = fast_kernel_websocket(ZMQChannelsWebsocketConnection)


def kernels_of_this_job(manager_class):
    """Kernels start in the notebook's directory, an absolute path on the shared file system (in
    $HOME, /scratch or /gpfs alike); where this node has no such directory, in $HOME.

    IPython kernels keep their history in the job's node-local runtime directory: one
    ~/.ipython/profile_default/history.sqlite written by kernels on many nodes at once over NFS
    locks up ("database is locked") or corrupts."""

    class KernelsOfThisJob(manager_class):
        def cwd_for_path(self, path, **kwargs):
            asked = os.path.join("/", (path or "").strip("/"))
            return asked if path and os.path.isdir(asked) else os.path.expanduser("~")

        async def start_kernel(self, *args, **kwargs):
            if runs_ipython(self.kernel_spec_manager, kwargs.get("kernel_name")):
                history = os.path.join(os.environ["JUPYTER_RUNTIME_DIR"], "ipython-history.sqlite")
                kwargs["extra_arguments"] = [
                    *kwargs.get("extra_arguments", []),
                    f"--HistoryManager.hist_file={history}",
                ]
            return await super().start_kernel(*args, **kwargs)

    return KernelsOfThisJob


def runs_ipython(kernel_specs, kernel_name):
    try:
        argv = kernel_specs.get_kernel_spec(kernel_name or "python3").argv
    except Exception:  # an unknown name: the gateway itself says so when it starts it
        return False
    return any("ipykernel" in part for part in argv)


# Each output crosses ZMQ once: the activity watcher hears status messages only.
try:
    from kernel_gateway.services.kernels.manager import SeedingMappingKernelManager
except ImportError:  # jupyter server, where Kernel Gateway is not installed
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    c.ServerApp.kernel_manager_class = status_only_activity(
        kernels_of_this_job(AsyncMappingKernelManager)
    )
else:
    c.KernelGatewayApp.kernel_manager_class = status_only_activity(
        kernels_of_this_job(SeedingMappingKernelManager)
    )
# The local Jupyter Server applies the user's own IOPub limit; the gateway must not add another.
c.ZMQChannelsWebsocketConnection.limit_rate = False
# A websocket whose companion became unreachable is closed after 30 s without a pong (5 s pings),
# rather than after 90 s: the gateway buffers the kernel's output from then on and replays it when
# the companion reconnects.
c.KernelGatewayApp.ws_ping_interval = 5
c.ServerApp.terminals_enabled = False
c.ServerApp.base_url = "/"

# A kernel that no client has been connected to, and that has been idle, for as long as the job's
# dead-man's switch waits is shut down: a companion or lab that went away for good cannot leave it
# holding GPU memory for the next one. A connected or busy kernel is never culled.
sk_cull_s = int(os.environ.pop("SLURM_KERNELS_CULL_S", "0") or 0)
if sk_cull_s > 0:
    c.MappingKernelManager.cull_idle_timeout = sk_cull_s
    c.MappingKernelManager.cull_interval = max(1, min(60, sk_cull_s // 4))
    c.MappingKernelManager.cull_connected = False
    c.MappingKernelManager.cull_busy = False


def published_by_us(resource_dir):
    """A kernelspec the companion published. Under a shared $HOME the job sees them in the user's own
    kernels folder: their shim cannot run on a node, and offering them again nests their names."""
    try:
        with open(os.path.join(resource_dir, "kernel.json"), encoding="utf-8") as f:
            return "${METADATA_KEY}" in (json.load(f).get("metadata") or {})
    except (OSError, ValueError, AttributeError):
        return False


class EnvironmentKernelSpecs(KernelSpecManager):
    """The job environment's kernelspecs and the user's own (a conda env or an R kernel they
    registered), never the ones this product published."""

    def find_kernel_specs(self):
        found = super().find_kernel_specs()
        return {name: where for name, where in found.items() if not published_by_us(where)}

    def get_kernel_spec(self, kernel_name):
        spec = super().get_kernel_spec(kernel_name)
        if published_by_us(spec.resource_dir):
            raise NoSuchKernel(kernel_name)
        return spec


c.KernelGatewayApp.kernel_spec_manager_class = EnvironmentKernelSpecs
c.ServerApp.kernel_spec_manager_class = EnvironmentKernelSpecs

# The job script hid the user's Jupyter config from this gateway; the kernels it starts get it back.
for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH"):
    users = os.environ.pop("SLURM_KERNELS_USER_" + name, "")
    if users:
        os.environ[name] = users
    else:
        os.environ.pop(name, None)
`;
