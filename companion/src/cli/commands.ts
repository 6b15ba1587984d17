/**
 * The CLI commands that talk to the companion: request, list, cancel, keep, log.
 */
import { parseArgs } from 'node:util';
import type {
  Allocation,
  AutoCancel,
  AllocationRequestInput
} from '../../../src/api/allocation';
import { allocationRequestSchema } from '../../../src/api/allocation';
import type { Cluster } from '../../../src/api/cluster';
import { LOCAL_CLUSTER } from '../../../src/api/clusters';
import { withSiteDefaults } from '../../../src/api/site';
import { CliError, CompanionClient } from './client';
import { allocationsOfEach, clientFor } from './clusters';
import { IPresets, pickPreset, PresetError } from '../presets';
import { loadSiteConfig, SiteConfigError } from '../site';

/** The preset's environment; an unknown name is the CLI's error, with the names known. */
function presetOrWhy(presets: IPresets, name: string | undefined) {
  try {
    return pickPreset(presets, name);
  } catch (err) {
    throw err instanceof PresetError ? new CliError(err.message) : err;
  }
}

export async function request(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      partition: { type: 'string', short: 'p' },
      gres: { type: 'string' },
      time: { type: 'string', short: 't' },
      cpus: { type: 'string' },
      mem: { type: 'string' },
      account: { type: 'string' },
      qos: { type: 'string' },
      constraint: { type: 'string' },
      'job-name': { type: 'string' },
      env: { type: 'string' },
      wait: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }
    }
  });
  // The site's defaults and presets as the companion serves them: its cluster's, wherever the
  // CLI runs (on a laptop, the cluster's files are read over the login).
  // A site file here that an admin broke is said at once, as the companion would at its next start
  // (this machine's site file is no other cluster's).
  const here =
    client.cluster === null || client.cluster === LOCAL_CLUSTER
      ? await loadSiteConfig().catch(err => {
          throw err instanceof SiteConfigError
            ? new CliError(err.message)
            : err;
        })
      : undefined;
  // Where Slurm cannot be read now, the companion still applies the site's defaults itself, and
  // says why the request cannot go through.
  const [cluster, presets] = await Promise.all([
    client.ok('GET', '/api/cluster').catch(() => undefined) as Promise<
      Cluster | undefined
    >,
    client
      .ok('GET', '/api/presets')
      .catch(err =>
        values.env ? Promise.reject(err) : { presets: {} }
      ) as Promise<IPresets>
  ]);
  if (values.cpus !== undefined && !/^\d+$/.test(values.cpus)) {
    throw new CliError(`--cpus: a whole number, not "${values.cpus}"`);
  }
  const input = withSiteDefaults(
    {
      partition: values.partition,
      gres: values.gres,
      time: values.time,
      cpus: values.cpus === undefined ? undefined : Number(values.cpus),
      memory: values.mem,
      account: values.account,
      qos: values.qos,
      constraint: values.constraint,
      jobName: values['job-name'],
      environment: presetOrWhy(presets, values.env)
    },
    cluster?.site?.defaults ?? here?.defaults
  ) as AllocationRequestInput;
  if (!input.partition || !input.time) {
    throw new CliError(
      'request needs -p PARTITION and -t TIME (e.g. -p gpu --gres gpu:1 -t 1:00:00); this site has no default for them'
    );
  }
  // Refused here, before the companion (or Slurm) sees it.
  const checked = allocationRequestSchema.safeParse(input);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new CliError(
      `${issue.path.join('.') || 'request'}: ${issue.message}`
    );
  }
  let allocation: Allocation = await client.ok(
    'POST',
    '/api/allocations',
    input
  );
  process.stderr.write(
    allocation.jobId
      ? `submitted job ${allocation.jobId} (allocation ${allocation.id})\n`
      : `submitted allocation ${allocation.id}: ${allocation.problem?.message ?? 'no job id yet'}\n`
  );
  if (values.wait) {
    allocation = await waitUntilSettled(client, allocation);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(allocation, null, 1)}\n`);
  } else if (values.wait) {
    for (const spec of allocation.kernelspecs) {
      process.stdout.write(`${spec.name}\t${spec.displayName}\n`);
    }
  } else {
    process.stdout.write(`${allocation.id}\n`);
  }
}

/** Follows an allocation until its kernels are published, or it fails; prints each new stage. */
async function waitUntilSettled(
  client: CompanionClient,
  start: Allocation
): Promise<Allocation> {
  let last = '';
  for (;;) {
    const a: Allocation = await client.ok(
      'GET',
      `/api/allocations/${encodeURIComponent(start.id)}`
    );
    const line = describe(a);
    if (line !== last) {
      process.stderr.write(`${line}\n`);
      last = line;
    }
    if (a.state === 'ready') {
      return a;
    }
    if (a.state === 'failed' || a.state === 'ended') {
      throw new CliError(a.outcome?.message ?? `allocation ${a.id} ${a.state}`);
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}

function describe(a: Allocation): string {
  // Slurm or the node not answering, a submission not yet confirmed: said beside the stage.
  return a.problem ? `${stage(a)} (${a.problem.message})` : stage(a);
}

function stage(a: Allocation): string {
  switch (a.state) {
    case 'pending':
      return `pending: ${a.pendingReason?.text ?? ''} [${a.pendingReason?.code ?? ''}]${a.estimatedStart ? ` (estimated start ${a.estimatedStart})` : ''}`;
    case 'running':
      return `running on ${a.node}; starting the gateway`;
    case 'ready':
      return `ready: ${a.kernelspecs.length} kernel(s) on ${a.node}${a.transport ? `, reached through ${a.transport.kind}${a.transport.note ? ` (${a.transport.note})` : ''}` : ''}`;
    default:
      return a.state;
  }
}

/** Why a cancel is scheduled, in the list's few words. */
const AUTO_CANCEL_WHY: Record<AutoCancel['why'], string> = {
  idle: 'idle',
  no_kernel: 'no kernel',
  gpu_idle: 'GPUs idle'
};

export async function list(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false } }
  });
  const groups = await allocationsOfEach(client);
  // Where the lab has several clusters, each allocation is said with its cluster.
  const several = groups.length > 1;
  if (values.json) {
    const all = groups.flatMap(g =>
      g.allocations.map(a => (several ? { cluster: g.cluster, ...a } : a))
    );
    process.stdout.write(`${JSON.stringify(all, null, 1)}\n`);
    return;
  }
  for (const { cluster, allocations } of groups) {
    for (const a of allocations) {
      process.stdout.write(
        `${several ? `${cluster}\t` : ''}${allocationLine(a)}\n`
      );
      gpuLines(a).forEach(line => process.stdout.write(`\t${line}\n`));
    }
  }
}

function allocationLine(a: Allocation): string {
  const via = a.transport ? ` via ${a.transport.kind}` : '';
  const where = a.node ? ` on ${a.node}${via}` : '';
  const why =
    a.state === 'pending'
      ? ` (${a.pendingReason?.code})`
      : a.outcome
        ? ` (${a.outcome.state})`
        : a.autoCancel
          ? ` (cancelled at ${a.autoCancel.at}: ${AUTO_CANCEL_WHY[a.autoCancel.why]}; slurm-kernels keep ${a.jobId})`
          : '';
  return `${a.id}\tjob ${a.jobId}\t${a.state}${why}${where}\t${a.request.partition}\t${a.request.gres ?? '-'}`;
}

/** Under a ready allocation with GPUs: what its kernels see, use now, a warning, the idle flag. */
export function gpuLines(a: Allocation): string[] {
  const gpus = a.gpus;
  if (!gpus) {
    return [];
  }
  const hours =
    a.gpuHours === null || a.gpuHours === undefined
      ? ''
      : `; ${a.gpuHours.toFixed(2)} GPU-hours`;
  const now = gpus.series
    .map(s => {
      const last = s.samples.at(-1);
      if (!last) {
        return null;
      }
      const util =
        last.utilizationGpu === null
          ? 'use unknown'
          : `${last.utilizationGpu} %`;
      const memory =
        last.memoryUsedMiB === null ? '' : `, ${last.memoryUsedMiB} MiB`;
      return `GPU ${s.index} ${util}${memory}`;
    })
    .filter(Boolean);
  const lines = [
    `GPUs: ${gpus.summary}${now.length > 0 ? ` (${now.join('; ')})` : ''}${hours}`
  ];
  if (gpus.problem) {
    lines.push(`WARNING: ${gpus.problem.message}`);
  }
  if (gpus.sampler.state === 'failed') {
    lines.push(
      `GPU sampler failed: ${gpus.sampler.message ?? 'no reason given'}`
    );
  }
  if (gpus.idle.flagged && gpus.idle.since) {
    lines.push(
      `idle: every GPU at 0 % since ${gpus.idle.since} (over ${gpus.idle.minutes} min)`
    );
  }
  return lines;
}

/** The allocation a command names: an allocation id or a Slurm job id. */
function allocationRef(command: string, args: string[]): string {
  const [id] = args;
  if (!id) {
    throw new CliError(
      `${command} needs an allocation id or a job id (see: slurm-kernels list)`
    );
  }
  return id;
}

export async function cancel(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const id = allocationRef('cancel', args);
  const holder = await clientFor(client, id);
  const a: Allocation = await holder.ok(
    'DELETE',
    `/api/allocations/${encodeURIComponent(id)}`
  );
  process.stderr.write(
    `cancelling job ${a.jobId}${holder.cluster ? ` on ${holder.cluster}` : ''}\n`
  );
}

/** Puts off the cancel the policy scheduled for an allocation (no kernel, or idle). */
export async function keep(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const id = allocationRef('keep', args);
  const holder = await clientFor(client, id);
  const a: Allocation = await holder.ok(
    'POST',
    `/api/allocations/${encodeURIComponent(id)}/keep`
  );
  process.stderr.write(
    a.autoCancel
      ? `kept job ${a.jobId}: now cancelled at ${a.autoCancel.at} unless it is used\n`
      : `kept job ${a.jobId}\n`
  );
}

export async function log(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const id = allocationRef('log', args);
  const holder = await clientFor(client, id);
  const { log: text } = await holder.ok(
    'GET',
    `/api/allocations/${encodeURIComponent(id)}/log`
  );
  process.stdout.write(text);
}
