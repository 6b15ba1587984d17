/**
 * The binding check: what the kernels of a job will see against what it asked for.
 */
import {
  checkBinding,
  describeDevices,
  IGpuEvidence
} from '../../../src/gpus/binding';
import type { IGpuDevice } from '../../../src/gpus/nvidiaSmi';

const device = (index: number, uuid = `GPU-${index}aaa`): IGpuDevice => ({
  index,
  uuid,
  busId: `00000000:0${index}:00.0`,
  name: 'NVIDIA H100 80GB HBM3',
  memoryTotalMiB: 81559
});
const fourOnTheNode = { devices: [0, 1, 2, 3].map(i => device(i)) };

function evidence(over: Partial<IGpuEvidence>): IGpuEvidence {
  return {
    cudaVisibleDevices: null,
    slurmJobGpus: null,
    slurmGpusOnNode: null,
    nvidiaSmi: null,
    ...over
  };
}

describe('the GPU binding check', () => {
  it('passes gpu:2 given two devices by index, as on a node without a cgroup', () => {
    const b = checkBinding(
      2,
      evidence({
        cudaVisibleDevices: '2,3',
        slurmJobGpus: '2,3',
        nvidiaSmi: fourOnTheNode
      })
    );
    expect(b.problem).toBeNull();
    expect(b.devices?.map(d => d.index)).toEqual([2, 3]);
    expect(describeDevices(b.devices ?? [])).toBe(
      '2× NVIDIA H100 80GB HBM3, 79.6 GiB each'
    );
  });

  it('passes renumbered devices inside a device cgroup, and MIG UUIDs', () => {
    const inCgroup = checkBinding(
      1,
      evidence({
        cudaVisibleDevices: '0',
        slurmJobGpus: '3',
        nvidiaSmi: { devices: [device(0)] }
      })
    );
    expect(inCgroup.problem).toBeNull();
    const mig = checkBinding(
      1,
      evidence({
        cudaVisibleDevices: 'MIG-4f421ec4-5175-50ef-8452-d6abb13cb1d2',
        nvidiaSmi: {
          devices: [device(0, 'MIG-4f421ec4-5175-50ef-8452-d6abb13cb1d2')]
        }
      })
    );
    expect(mig.visible).toBe(1);
    expect(mig.problem).toBeNull();
  });

  it('warns loudly when a preset cleared CUDA_VISIBLE_DEVICES', () => {
    const b = checkBinding(
      2,
      evidence({ cudaVisibleDevices: '', nvidiaSmi: fourOnTheNode })
    );
    expect(b.visible).toBe(0);
    expect(b.problem?.kind).toBe('none');
    expect(b.problem?.message).toMatch(
      /CUDA_VISIBLE_DEVICES is empty in the job/
    );
  });

  it('warns of fewer than asked, stopping at an entry no device matches (as CUDA does)', () => {
    const b = checkBinding(
      2,
      evidence({ cudaVisibleDevices: '7,1', nvidiaSmi: fourOnTheNode })
    );
    expect(b.visible).toBe(0);
    expect(b.problem?.kind).toBe('none');
    const c = checkBinding(
      3,
      evidence({ cudaVisibleDevices: '0,1', nvidiaSmi: fourOnTheNode })
    );
    expect(c.problem?.kind).toBe('fewer');
  });

  it('warns of more than asked where nothing narrows the devices', () => {
    const b = checkBinding(1, evidence({ nvidiaSmi: fourOnTheNode }));
    expect(b.visible).toBe(4);
    expect(b.problem?.kind).toBe('more');
    expect(b.problem?.message).toMatch(
      /CUDA_VISIBLE_DEVICES is not set and no device cgroup/
    );
    expect(
      checkBinding(0, evidence({ nvidiaSmi: fourOnTheNode })).problem?.kind
    ).toBe('more');
  });

  it('counts CUDA_VISIBLE_DEVICES alone where the node has no nvidia-smi (the testbed)', () => {
    expect(
      checkBinding(2, evidence({ cudaVisibleDevices: '0,1' }))
    ).toMatchObject({
      visible: 2,
      devices: null,
      problem: null
    });
    expect(checkBinding(1, evidence({})).problem?.kind).toBe('unknown');
    expect(checkBinding(0, evidence({})).problem).toBeNull();
  });

  it("names nvidia-smi's failure in the warning", () => {
    const b = checkBinding(
      1,
      evidence({
        nvidiaSmi: {
          error: 'Failed to initialize NVML: Driver/library version mismatch'
        }
      })
    );
    expect(b.problem?.message).toMatch(/nvidia-smi: Failed to initialize NVML/);
  });
});
