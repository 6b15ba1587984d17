/**
 * `doctor --submit`: one small job per preset (or the one asked for) that sets the environment up as
 * an allocation's job does and reports what it found; meanwhile the way to each job's node (ssh, else
 * the srun relay) is checked.
 * Every job is cancelled at the end, on errors and on Ctrl-C alike; none publishes a kernelspec.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JOB_TAG } from '../allocations/manager';
import { loadPresets } from '../presets';
import { loadSiteConfig } from '../site';
import {
  cancelJob,
  describePendingReason,
  listJobs,
  LocalRunner,
  submitJob
} from '../slurm';
import { defaultStateDir, ensurePrivateDir } from '../state/files';
import type { IDoctorContext } from './context';
import {
  IPresetUnderTest,
  judgeProbe,
  lastLines,
  parseProbeOutput,
  probeFinished,
  probeScript
} from './probeScript';
import { fail, ICheckResult } from './report';
import { checkReachingNode, RelayProbe, relayProbe } from './relayCheck';
import {
  checkOpenSsh,
  checkSsh,
  openSshProbe,
  TunnelProbe,
  tunnelProbe
} from './sshCheck';
import { transportModeFrom } from '../tunnel/transport';

export const DOCTOR_JOB_NAME = 'slurm-kernels-doctor';
/** The test jobs' time limit: they need seconds; Slurm ends them even if the doctor is killed. */
export const TEST_JOB_MINUTES = 5;

export interface ITestJobOptions {
  partition?: string;
  /** One preset by name; default: every preset. */
  preset?: string;
  /** How long to wait for the jobs, pending included; default 3 minutes. */
  waitMs?: number;
  pollMs?: number;
  tunnelProbe?: TunnelProbe;
  openSshProbe?: TunnelProbe;
  relayProbe?: RelayProbe;
}

interface ITestJob {
  preset: IPresetUnderTest;
  id: string;
  log: string;
}

/** Where a job got to: its output, and its node, or why there is no (complete) output. */
interface IWaited {
  job: ITestJob;
  text: string;
  node: string | null;
  /** Set when the probe did not finish: "ended FAILED", "still PENDING (Resources) after 3 min". */
  unfinished?: string;
}

const ACTIVE_STATES =
  /^(PENDING|CONFIGURING|RUNNING|SUSPENDED|REQUEUED|RESIZING)$/;

export async function runTestJobs(
  ctx: IDoctorContext,
  options: ITestJobOptions
): Promise<ICheckResult[]> {
  let presets: IPresetUnderTest[];
  let partition: string;
  try {
    presets = await presetsUnderTest(ctx, options.preset);
    partition = options.partition ?? (await defaultPartition(ctx));
  } catch (err) {
    return [
      fail(
        'test job',
        (err as Error).message,
        'name a preset with --env and a partition with -p'
      )
    ];
  }
  const dir = await ensurePrivateDir(
    path.join(
      defaultStateDir(ctx.env),
      'doctor',
      randomBytes(4).toString('hex')
    )
  );
  const cleanup = new TestJobCleanup(ctx, dir);
  try {
    const results: ICheckResult[] = [];
    const jobs: ITestJob[] = [];
    for (const [index, preset] of presets.entries()) {
      const submitted = await submitTestJob(ctx, preset, partition, dir, index);
      if ('id' in submitted) {
        cleanup.add(submitted.id);
        jobs.push(submitted);
      } else {
        results.push(submitted);
      }
    }
    const deadline = Date.now() + (options.waitMs ?? 180_000);
    const waited = await Promise.all(
      jobs.map(job => waitForProbe(ctx, job, deadline, options.pollMs ?? 1_000))
    );
    results.push(...waited.map(judgeWaited));
    results.push(
      ...(await checkReachingNodes(ctx, waited, {
        ssh: options.tunnelProbe ?? tunnelProbe(ctx.runner),
        openSsh:
          options.openSshProbe ??
          openSshProbe(new LocalRunner(ctx.env), ctx.env),
        relay: options.relayProbe ?? relayProbe(ctx.runner)
      }))
    );
    return results;
  } finally {
    await cleanup.run();
  }
}

/** The preset asked for, else every preset, else the nodes' login environment (no preset). */
async function presetsUnderTest(
  ctx: IDoctorContext,
  name: string | undefined
): Promise<IPresetUnderTest[]> {
  const { presets } = await loadPresets(ctx.presetFiles, () =>
    loadSiteConfig(ctx.siteConfigFile)
  );
  if (name !== undefined) {
    if (!presets[name]) {
      const known = Object.keys(presets).join(', ') || 'none';
      throw new Error(`no environment preset "${name}" (known: ${known})`);
    }
    return [{ name, env: presets[name] }];
  }
  const all = Object.entries(presets).map(([n, env]) => ({ name: n, env }));
  return all.length > 0
    ? all
    : [{ name: '(no preset)', env: { modules: [], init: [] } }];
}

async function defaultPartition(ctx: IDoctorContext): Promise<string> {
  const found = (await ctx.cluster()).partitions.find(p => p.isDefault);
  if (!found) {
    throw new Error('the cluster has no default partition');
  }
  return found.name;
}

async function submitTestJob(
  ctx: IDoctorContext,
  preset: IPresetUnderTest,
  partition: string,
  dir: string,
  index: number
): Promise<ITestJob | ICheckResult> {
  const log = path.join(dir, `job-${index}.log`);
  try {
    const id = await submitJob(ctx.runner, {
      script: probeScript(preset.env),
      partition,
      time: String(TEST_JOB_MINUTES),
      // Tagged as ours, so that whatever cleans up after the companion's jobs finds this one too.
      jobName: DOCTOR_JOB_NAME,
      comment: JOB_TAG,
      output: log,
      workdir: ctx.env.HOME ?? os.homedir()
    });
    ctx.progress(
      `submitted test job ${id} for preset ${preset.name} to partition ${partition}`
    );
    return { preset, id, log };
  } catch (err) {
    return fail(
      `test job ${preset.name}`,
      `Slurm refused the test job on partition ${partition}: ${(err as Error).message}`,
      `check the partition (-p) and your account and QOS (\`sacctmgr show associations user=${ctx.user}\`)`
    );
  }
}

/** Follows a job, saying on stderr when its state changes, until its probe is done or time is up. */
async function waitForProbe(
  ctx: IDoctorContext,
  job: ITestJob,
  deadline: number,
  pollMs: number
): Promise<IWaited> {
  let said = '';
  let node: string | null = null;
  for (;;) {
    // Slurm first: where a fast job is done at once, its node is still the name Slurm gives it.
    const [info] = await listJobs(ctx.runner, { jobIds: [job.id] });
    const state = info?.state ?? 'gone';
    node = info?.nodes && state === 'RUNNING' ? info.nodes : node;
    const line =
      state === 'PENDING'
        ? `pending: ${describePendingReason(info.reason)}`
        : `${state.toLowerCase()}${node ? ` on ${node}` : ''}`;
    if (line !== said) {
      ctx.progress(`job ${job.id} (${job.preset.name}) ${line}`);
      said = line;
    }
    const text = await readIfExists(job.log);
    if (probeFinished(text)) {
      return { job, text, node };
    }
    if (!ACTIVE_STATES.test(state)) {
      return { job, text, node, unfinished: `ended ${state}` };
    }
    if (Date.now() >= deadline) {
      const why = state === 'PENDING' ? ` (${info.reason})` : '';
      return {
        job,
        text,
        node,
        unfinished: `still ${state}${why} when the doctor stopped waiting`
      };
    }
    await sleep(pollMs);
  }
}

function judgeWaited(waited: IWaited): ICheckResult {
  const { job, text, unfinished } = waited;
  const probe = parseProbeOutput(text);
  if (!unfinished) {
    return judgeProbe(job.preset, probe);
  }
  const said = lastLines(probe, '');
  return fail(
    `test job ${job.preset.name}`,
    `job ${job.id} ${unfinished}${said ? `: ${said}` : ''}; cancelled`,
    unfinished.startsWith('still PENDING')
      ? `try another partition with -p, or later (\`squeue -j ${job.id}\` said why it waited)`
      : `see \`sacct -j ${job.id}\` and the node's slurmd log (ask the admins)`
  );
}

/**
 * Once per node that ran a test job, while the job still runs there: ssh, and where ssh fails
 * (or is not used), the srun relay, as the site's nodeTransport says the companion would.
 */
async function checkReachingNodes(
  ctx: IDoctorContext,
  waited: IWaited[],
  probes: { ssh: TunnelProbe; openSsh: TunnelProbe; relay: RelayProbe }
): Promise<ICheckResult[]> {
  const site = await loadSiteConfig(ctx.siteConfigFile).catch(() => ({}));
  const mode = transportModeFrom(ctx.env, site);
  const jobOnNode = new Map<string, string>();
  for (const w of waited) {
    const node = w.node ?? parseProbeOutput(w.text).values.get('host');
    if (node && !jobOnNode.has(node)) {
      jobOnNode.set(node, w.job.id);
    }
  }
  const results: ICheckResult[] = [];
  for (const [node, jobId] of jobOnNode) {
    ctx.progress(`checking how to reach ${node}`);
    results.push(
      ...(await checkReachingNode(node, jobId, mode, {
        ssh: () => checkSsh(node, ctx.user, probes.ssh),
        openSsh: () => checkOpenSsh(node, probes.openSsh),
        relay: probes.relay
      }))
    );
  }
  return results;
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Cancels the test jobs and removes their logs, once: at the end, or on a signal (then it exits
 * with the signal's status, as an interrupted command does).
 */
class TestJobCleanup {
  constructor(
    private readonly _ctx: IDoctorContext,
    private readonly _dir: string
  ) {
    for (const signal of CLEANUP_SIGNALS) {
      process.once(signal, this._onSignal);
    }
  }

  add(jobId: string): void {
    this._jobs.push(jobId);
  }

  run(): Promise<void> {
    this._done ??= this._cleanUp();
    return this._done;
  }

  private async _cleanUp(): Promise<void> {
    for (const signal of CLEANUP_SIGNALS) {
      process.removeListener(signal, this._onSignal);
    }
    for (const id of this._jobs) {
      this._ctx.progress(`cancelling test job ${id}`);
      await cancelJob(this._ctx.runner, id).catch(err =>
        this._ctx.progress(
          `could not cancel job ${id}: ${(err as Error).message}`
        )
      );
    }
    await this._untilGone();
    await fs.rm(this._dir, { recursive: true, force: true });
  }

  /** A few seconds for Slurm to end the cancelled jobs, so that none is left when the doctor returns. */
  private async _untilGone(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (this._jobs.length > 0 && Date.now() < deadline) {
      const listed = await listJobs(this._ctx.runner, {
        jobIds: this._jobs
      }).catch(() => []);
      if (
        !listed.some(
          j => ACTIVE_STATES.test(j.state) || j.state === 'COMPLETING'
        )
      ) {
        return;
      }
      await sleep(250);
    }
  }

  private readonly _onSignal = (signal: NodeJS.Signals): void => {
    this._ctx.progress(`${signal}: cancelling the test jobs`);
    void this.run().finally(() =>
      process.exit(128 + (os.constants.signals[signal] ?? 1))
    );
  };

  private _jobs: string[] = [];
  private _done: Promise<void> | undefined;
}

const CLEANUP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
