/**
 * Checks of Slurm itself, as this user sees it: its commands on PATH, the partitions and GPUs it
 * shows, the user's accounts and QOS.
 */
import path from 'node:path';
import type { Partition } from '../../../src/api/cluster';
import { AssociationsReader } from '../slurm';
import type { IDoctorContext } from './context';
import { fail, ICheckResult, ok, skip } from './report';

/** The commands the companion runs for every allocation. */
export const REQUIRED_SLURM_COMMANDS = [
  'sbatch',
  'squeue',
  'sinfo',
  'scontrol',
  'scancel'
];
/** Used where the cluster has accounting: ended jobs' outcome (sacct), accounts and QOS (sacctmgr). */
export const OPTIONAL_SLURM_COMMANDS = ['sacct', 'sacctmgr'];

export async function checkSlurmCommands(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'slurm commands';
  const all = [...REQUIRED_SLURM_COMMANDS, ...OPTIONAL_SLURM_COMMANDS];
  const found = new Map<string, string>();
  for (const command of all) {
    const where = await ctx.which(command);
    if (where) {
      found.set(command, where);
    }
  }
  const missing = REQUIRED_SLURM_COMMANDS.filter(c => !found.has(c));
  if (missing.length > 0) {
    return fail(
      check,
      `not on PATH: ${missing.join(', ')} (PATH=${ctx.env.PATH ?? ''})`,
      "load Slurm's module (e.g. `module load slurm`) or add the directory of Slurm's commands (often /usr/bin or /opt/slurm/bin) to PATH, where JupyterLab runs too"
    );
  }
  const dirs = [...new Set([...found.values()].map(p => path.dirname(p)))];
  const optionalMissing = OPTIONAL_SLURM_COMMANDS.filter(c => !found.has(c));
  const absent =
    optionalMissing.length > 0
      ? ` (no ${optionalMissing.join(', ')}: no accounting details)`
      : '';
  return ok(
    check,
    `${[...found.keys()].join(', ')} in ${dirs.join(', ')}; ${await slurmVersion(ctx)}${absent}`
  );
}

/** "slurm-wlm 22.05.8" as `sinfo --version` (or `scontrol --version`) prints it. */
async function slurmVersion(ctx: IDoctorContext): Promise<string> {
  for (const command of ['sinfo', 'scontrol']) {
    try {
      const result = await ctx.runner.run([command, '--version'], {
        timeoutMs: 10_000
      });
      if (result.code === 0 && result.stdout.trim()) {
        return result.stdout.trim();
      }
    } catch {
      // the other one may answer
    }
  }
  return 'version unknown';
}

export async function checkPartitions(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'partitions';
  let partitions: Partition[];
  try {
    partitions = (await ctx.cluster()).partitions;
  } catch (err) {
    return fail(
      check,
      `Slurm does not describe the cluster: ${(err as Error).message}`,
      'check that `sinfo` and `scontrol show partition` work here (slurmctld reachable, SLURM_CONF right, munge running)'
    );
  }
  if (partitions.length === 0) {
    return fail(
      check,
      'Slurm shows no partition to this user',
      'ask the admins which partitions you may use (AllowGroups/AllowAccounts hide the others)'
    );
  }
  return ok(check, partitions.map(describePartition).join('; '));
}

/** "gpu: node1, node2; GPUs tesla ×4 (4 free)", "cpu (default): node1, node2; no GPUs". */
export function describePartition(p: Partition): string {
  const flags = [
    ...(p.isDefault ? ['default'] : []),
    ...(p.state === 'UP' ? [] : [p.state])
  ];
  const name = flags.length > 0 ? `${p.name} (${flags.join(', ')})` : p.name;
  const gpus =
    p.gpus.total === 0
      ? 'no GPUs'
      : `GPUs ${p.gpus.types.map(t => `${t.type ?? 'untyped'} ×${t.total}`).join(', ')} (${p.gpus.free} free)`;
  return `${name}: ${p.nodes.join(', ') || 'no nodes'}; ${gpus}`;
}

export async function checkAccounting(
  ctx: IDoctorContext
): Promise<ICheckResult> {
  const check = 'accounting';
  if (!(await ctx.which('sacctmgr'))) {
    return skip(
      check,
      'no sacctmgr on PATH: no accounting; account and QOS stay free in the request form'
    );
  }
  const { accounts, qos } = await new AssociationsReader(
    ctx.runner,
    ctx.user
  ).read();
  if (accounts.length === 0) {
    return skip(
      check,
      `no associations for ${ctx.user} (no accounting, or slurmdbd does not answer): account and QOS stay free`
    );
  }
  return ok(
    check,
    `${ctx.user}: accounts ${accounts.join(', ')}; QOS ${qos.join(', ') || 'none'}`
  );
}
