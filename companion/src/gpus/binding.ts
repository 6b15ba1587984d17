/**
 * Whether a job's kernels see the GPUs it asked for (reference/gpu-awareness.md §3.4–4.5): from what
 * the job found on its node — CUDA_VISIBLE_DEVICES (unset: every device; empty: none; an entry no
 * device matches hides the ones after it, as CUDA reads it), Slurm's SLURM_JOB_GPUS, and nvidia-smi's
 * devices where it exists (NVML ignores CUDA_VISIBLE_DEVICES: only a device cgroup narrows it).
 */
import type { IGpuDevice } from './nvidiaSmi';

/** What the job reports of its GPUs, raw: the evidence shown beside a warning. */
export interface IGpuEvidence {
  /** null: unset. */
  cudaVisibleDevices: string | null;
  slurmJobGpus: string | null;
  slurmGpusOnNode: string | null;
  /** null: no nvidia-smi on the node. */
  nvidiaSmi: { devices: IGpuDevice[] } | { error: string } | null;
}

export type BindingProblem = 'none' | 'fewer' | 'more' | 'unknown';

export interface IGpuBinding {
  requested: number;
  /** The devices the kernels will use, where nvidia-smi says which; null where it cannot. */
  devices: IGpuDevice[] | null;
  /** How many they will see; null where nothing tells. */
  visible: number | null;
  problem: { kind: BindingProblem; message: string } | null;
}

export function checkBinding(
  requested: number,
  evidence: IGpuEvidence
): IGpuBinding {
  const listed =
    evidence.nvidiaSmi && 'devices' in evidence.nvidiaSmi
      ? evidence.nvidiaSmi.devices
      : null;
  const devices = visibleDevices(evidence.cudaVisibleDevices, listed);
  const visible =
    devices?.length ??
    (evidence.cudaVisibleDevices === null
      ? null
      : entries(evidence.cudaVisibleDevices).length);
  return {
    requested,
    devices,
    visible,
    problem: problemOf(requested, visible, evidence)
  };
}

/** The devices CUDA will use, in its order; null without nvidia-smi's list. */
function visibleDevices(
  cvd: string | null,
  listed: IGpuDevice[] | null
): IGpuDevice[] | null {
  if (!listed) {
    return cvd === '' ? [] : null;
  }
  if (cvd === null) {
    return listed;
  }
  if (entries(cvd).some(e => e.startsWith('MIG-'))) {
    // MIG instances: --query-gpu lists their parent GPUs only, so which ones is not known here;
    // how many is (one per entry).
    return null;
  }
  const seen: IGpuDevice[] = [];
  for (const entry of entries(cvd)) {
    const device = listed.find(d => matches(d, entry));
    if (!device) {
      break; // CUDA stops at the first entry it cannot use
    }
    seen.push(device);
  }
  return seen;
}

function entries(cvd: string): string[] {
  return cvd
    .split(',')
    .map(e => e.trim())
    .filter(Boolean);
}

/** An index, or a UUID (GPU-…, MIG-…), possibly abbreviated as CUDA allows. */
function matches(device: IGpuDevice, entry: string): boolean {
  return /^\d+$/.test(entry)
    ? device.index === Number(entry)
    : device.uuid.toLowerCase().startsWith(entry.toLowerCase());
}

function problemOf(
  requested: number,
  visible: number | null,
  evidence: IGpuEvidence
): IGpuBinding['problem'] {
  const cvd = evidence.cudaVisibleDevices;
  const failed =
    evidence.nvidiaSmi && 'error' in evidence.nvidiaSmi
      ? ` (nvidia-smi: ${evidence.nvidiaSmi.error})`
      : '';
  if (visible === null) {
    return requested > 0
      ? {
          kind: 'unknown',
          message: `CUDA_VISIBLE_DEVICES is not set in the job and nvidia-smi does not list the GPUs${failed}: whether the kernels see the ${requested} GPU(s) asked for is unknown`
        }
      : null;
  }
  if (visible === 0 && requested > 0) {
    return {
      kind: 'none',
      message:
        cvd === ''
          ? `the kernels see no GPU: CUDA_VISIBLE_DEVICES is empty in the job (an environment preset or init line may clear it); ${requested} asked for`
          : `the kernels see no GPU of the ${requested} asked for (CUDA_VISIBLE_DEVICES=${cvd ?? '(unset)'}${failed})`
    };
  }
  if (visible < requested) {
    return {
      kind: 'fewer',
      message: `the kernels see ${visible} GPU(s), ${requested} asked for (CUDA_VISIBLE_DEVICES=${cvd ?? '(unset)'}, SLURM_JOB_GPUS=${evidence.slurmJobGpus ?? '(unset)'})`
    };
  }
  if (visible > requested) {
    const unset = cvd === null ? 'CUDA_VISIBLE_DEVICES is not set and ' : '';
    return {
      kind: 'more',
      message: `the kernels see ${visible} GPU(s), ${requested} asked for: ${unset}no device cgroup limits the job, so they can use GPUs other jobs were given`
    };
  }
  return null;
}

/** "2× NVIDIA H100 80GB HBM3, 79.6 GiB each"; mixed models are listed one by one. */
export function describeDevices(devices: IGpuDevice[]): string {
  if (devices.length === 0) {
    return 'no GPU';
  }
  const names = [...new Set(devices.map(d => d.name))];
  const memory = (d: IGpuDevice) =>
    d.memoryTotalMiB === null
      ? ''
      : `, ${(d.memoryTotalMiB / 1024).toFixed(1)} GiB`;
  if (names.length === 1) {
    const each = memory(devices[0]);
    return `${devices.length}× ${names[0]}${each}${devices.length > 1 && each ? ' each' : ''}`;
  }
  return devices.map(d => `${d.name}${memory(d)}`).join('; ');
}
