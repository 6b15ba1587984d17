import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GATEWAY_CONFIG,
  KERNEL_WS_MODULE
} from '../../../src/gateway/jobScript';
import { readKernelWsModule } from '../../../src/gateway/kernelWsModule';

describe('the kernel websocket module for the gateway', () => {
  it('is the Python package’s own kernel_ws.py, found above the companion', async () => {
    const source = await readKernelWsModule();
    expect(source).toContain('def fast_kernel_websocket(connection_class):');
  });

  it('is imported by the gateway configuration under the name it is copied as', () => {
    expect(GATEWAY_CONFIG).toContain(
      `from ${KERNEL_WS_MODULE} import fast_kernel_websocket`
    );
  });

  it('names what is missing when no directory above holds it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sk-nomodule-'));
    try {
      await expect(readKernelWsModule(dir)).rejects.toThrow(
        /kernel_ws\.py was not found in any directory above/
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
