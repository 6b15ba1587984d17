import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocationRequestSchema } from '../../../../src/api/allocation';
import { buildJobScript, shellQuote } from '../../../src/gateway/jobScript';

const files = {
  dir: '/home/alice/.local/state/slurm-kernels/allocations/x',
  tokenFile: "/home/alice/it's/token",
  rendezvousFile:
    '/home/alice/.local/state/slurm-kernels/allocations/x/rendezvous.json',
  gatewayConfig:
    '/home/alice/.local/state/slurm-kernels/allocations/x/gateway_config.py',
  gatewayModule:
    '/home/alice/.local/state/slurm-kernels/allocations/x/slurm_kernels_ws.py'
};

function script(environment: object): string {
  const request = allocationRequestSchema.parse({
    partition: 'gpu',
    gres: 'gpu:1',
    time: '1:00:00',
    environment
  });
  return buildJobScript(request, files);
}

describe('the job script', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-script-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is valid bash (bash -n)', () => {
    const file = path.join(dir, 'job.sh');
    writeFileSync(
      file,
      script({
        modules: ['cuda/12.4'],
        venv: '/opt/env',
        init: ['export OMP_NUM_THREADS=4']
      })
    );
    expect(() => execFileSync('/bin/bash', ['-n', file])).not.toThrow();
  });

  it('sets the environment up in order: modules, conda, venv, then the user init lines', () => {
    const text = script({
      modules: ['cuda/12.4', 'gcc'],
      conda: 'torch',
      venv: '/opt/env/',
      init: ['echo hi']
    });
    const order = [
      "module load 'cuda/12.4' 'gcc'",
      "conda activate 'torch'",
      "source '/opt/env/bin/activate'",
      'echo hi'
    ].map(line => text.indexOf(line));
    expect(order.every(i => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('never puts the token in argv and keeps the gateway on loopback with port retries off', () => {
    const text = script({});
    expect(text).toContain(
      'KG_AUTH_TOKEN="$(cat "$sk_token_file")" KG_IP=127.0.0.1'
    );
    expect(text).toContain('KG_PORT_RETRIES=0');
    expect(text).toContain('KG_LIST_KERNELS=True');
    expect(text).toContain("sk_token_file='/home/alice/it'\\''s/token'");
    expect(text).not.toMatch(
      /--KernelGatewayApp\.auth_token|--IdentityProvider\.token/
    );
  });

  it('quotes values so that the shell reads them back verbatim', () => {
    for (const value of ["it's", '$(id)', '`id`', 'a b; c', '"x"\\']) {
      const out = execFileSync('/bin/bash', [
        '-c',
        `printf %s ${shellQuote(value)}`
      ]).toString();
      expect(out).toBe(value);
    }
  });
});
