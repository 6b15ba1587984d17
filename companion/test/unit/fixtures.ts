import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LocalRunner } from '../../src/slurm/runner';
import { SrunRelay } from '../../src/tunnel/srunRelay';
import { SshPool } from '../../src/tunnel/ssh';
import { NodeTransports } from '../../src/tunnel/transport';

/** Real output of Slurm 22.05 on the testbed (test/fixtures/slurm-22.05/README says which command). */
export function fixture(name: string): string {
  return readFileSync(
    path.join(__dirname, '../fixtures/slurm-22.05', name),
    'utf8'
  );
}

/** Transports for managers whose tests never reach a gateway (nothing is opened until used). */
export function unusedTransports(): NodeTransports {
  const runner = new LocalRunner();
  return new NodeTransports({
    ssh: new SshPool(),
    srun: new SrunRelay({ runner, commands: runner })
  });
}
