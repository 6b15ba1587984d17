import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GATEWAY_CONFIG,
  GPUS_MODULE,
  KERNEL_WS_MODULE
} from '../../../src/gateway/jobScript';
import { readGatewayModules } from '../../../src/gateway/gatewayModules';
import { DEVICE_FIELDS, SAMPLE_FIELDS } from '../../../src/gpus/nvidiaSmi';

describe('the Python modules for the gateway', () => {
  it('are the Python package’s own kernel_ws.py and gpus.py, found above the companion', async () => {
    const modules = await readGatewayModules();
    expect(modules.get('slurm_kernels_ws')).toContain(
      'def fast_kernel_websocket(connection_class):'
    );
    expect(modules.get('slurm_kernels_gpus')).toContain(
      'def serve_gpus(c, device_fields, sample_fields, interval_ms):'
    );
  });

  it('are imported by the gateway configuration under the names they are copied as', () => {
    expect(GATEWAY_CONFIG).toContain(
      `from ${KERNEL_WS_MODULE} import fast_kernel_websocket`
    );
    expect(GATEWAY_CONFIG).toContain(`from ${GPUS_MODULE} import serve_gpus`);
  });

  it('give the sampler the fields the companion parses, in its order', () => {
    expect(GATEWAY_CONFIG).toContain(
      `sample_fields=${JSON.stringify(SAMPLE_FIELDS)}`
    );
    expect(GATEWAY_CONFIG).toContain(
      `device_fields=${JSON.stringify(DEVICE_FIELDS)}`
    );
  });

  it('names what is missing when no directory above holds them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sk-nomodule-'));
    try {
      // Both modules are missing: whichever read fails first is named (they run at once).
      await expect(readGatewayModules(dir)).rejects.toThrow(
        /(kernel_ws|gpus)\.py was not found in any directory above/
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
