import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Real output of Slurm 22.05 on the testbed (test/fixtures/slurm-22.05/README says which command). */
export function fixture(name: string): string {
  return readFileSync(
    path.join(__dirname, '../fixtures/slurm-22.05', name),
    'utf8'
  );
}
