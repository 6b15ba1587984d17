/**
 * The nvidia-smi parsers against real captured output (test/fixtures/nvidia-smi/README.md).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  isNoValue,
  NvidiaSmiError,
  numberOf,
  parseDevices,
  parseQuery,
  parseSamples
} from '../../../src/gpus/nvidiaSmi';

const capture = (name: string) =>
  readFileSync(path.join(__dirname, '../../fixtures/nvidia-smi', name), 'utf8');

describe('nvidia-smi --query-gpu', () => {
  it('reads an H100 idle and under gpu-burn, header and units included', () => {
    const [idle, burn] = parseSamples(capture('h100-idle-and-burn.csv'));
    expect(idle).toEqual({
      index: 0,
      uuid: 'GPU-00000000-0000-0000-0000-000000000000',
      name: 'NVIDIA H100 80GB HBM3',
      memoryTotalMiB: 81559,
      memoryUsedMiB: 0,
      utilizationGpu: 0,
      utilizationMemory: 0,
      temperatureC: 41,
      powerW: 69.85
    });
    expect(burn).toMatchObject({
      memoryUsedMiB: 19818,
      utilizationGpu: 100,
      powerW: 631.95
    });
  });

  it('gives MIG utilisation as unknown, never as 0, and keeps its memory', () => {
    const [, loaded] = parseSamples(capture('h100-mig.csv'));
    expect(loaded.utilizationGpu).toBeNull();
    expect(loaded.utilizationMemory).toBeNull();
    expect(loaded.memoryUsedMiB).toBe(11125);
    const h200 = parseSamples(capture('h200.csv'));
    expect(h200.map(s => s.utilizationGpu)).toEqual([0, 100, null]);
    expect(h200[0].memoryTotalMiB).toBe(143771);
  });

  it('reads the nounits form the sampler asks for', () => {
    const [s] = parseSamples(
      '0, GPU-1d2e, NVIDIA L40S, 46068, 1235, 9, 2, 54, 110.23\n'
    );
    expect(s).toMatchObject({
      memoryTotalMiB: 46068,
      utilizationGpu: 9,
      powerW: 110.23
    });
  });

  it('treats every way drivers say "no value" as none', () => {
    const rows = parseQuery(capture('old-driver-not-supported.csv'), [
      'memory.total',
      'memory.free',
      'memory.used',
      'temperature.gpu',
      'fan.speed',
      'utilization.gpu',
      'utilization.memory'
    ]);
    expect(rows.map(r => numberOf(r['fan.speed']))).toEqual([null, null]);
    expect(rows.map(r => numberOf(r['utilization.gpu']))).toEqual([0, 0]);
    for (const cell of [
      '[N/A]',
      '[Not Supported]',
      '[Requested functionality has been deprecated]',
      'N/A',
      '-',
      ''
    ]) {
      expect(isNoValue(cell)).toBe(true);
      expect(numberOf(cell)).toBeNull();
    }
    expect(isNoValue('0')).toBe(false);
  });

  it('lists the devices of the binding check', () => {
    const devices = parseDevices(
      [
        '0, GPU-7fdaf0a5-179b-f636-d15d-daf243e3ff16, 00000000:07:00.0, NVIDIA A100-SXM4-80GB, 81920',
        '1, GPU-d8594bd4-0fc3-8595-e355-7c98138f3b95, 00000000:0B:00.0, NVIDIA A100-SXM4-80GB, 81920'
      ].join('\n')
    );
    expect(devices.map(d => [d.index, d.busId, d.memoryTotalMiB])).toEqual([
      [0, '00000000:07:00.0', 81920],
      [1, '00000000:0B:00.0', 81920]
    ]);
  });

  it('says no devices for "No devices were found", and fails with the driver\'s words', () => {
    expect(parseSamples('No devices were found\n')).toEqual([]);
    expect(() =>
      parseSamples(
        'Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 570.124\n'
      )
    ).toThrow(
      new NvidiaSmiError(
        'Failed to initialize NVML: Driver/library version mismatch'
      )
    );
    expect(() =>
      parseDevices(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n"
      )
    ).toThrow(NvidiaSmiError);
  });
});
