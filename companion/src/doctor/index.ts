/**
 * `slurm-kernels doctor [--json] [--submit] [-p PARTITION] [--env PRESET]`: checks, in this process
 * and without the companion, everything the product needs on this cluster for this user, and says
 * how to fix what fails. Exit 0 when nothing failed, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { CliError } from '../cli/client';
import { IDoctorContext, localContext } from './context';
import {
  checkKernelspecDir,
  checkSocketDir,
  checkStateDir
} from './fileChecks';
import { checkJupyterLab, checkServerExtensions } from './jupyterChecks';
import { exitCode, formatJson, formatText, ICheckResult, skip } from './report';
import { checkNode, checkPresets } from './runtimeChecks';
import {
  checkAccounting,
  checkPartitions,
  checkSlurmCommands
} from './slurmChecks';
import { ITestJobOptions, runTestJobs } from './testJobs';

export interface IDoctorOptions extends ITestJobOptions {
  /** Submit the test jobs (and check ssh to their nodes). */
  submit: boolean;
}

/** The checks that need no job, run side by side (several start Python or ask Slurm). */
function localChecks(ctx: IDoctorContext): Array<Promise<ICheckResult>> {
  return [
    checkSlurmCommands(ctx),
    checkPartitions(ctx),
    checkAccounting(ctx),
    checkKernelspecDir(ctx),
    checkStateDir(ctx),
    checkSocketDir(ctx),
    Promise.resolve(checkNode()),
    checkJupyterLab(ctx),
    checkServerExtensions(ctx),
    checkPresets(ctx)
  ];
}

/** What a test job needs: without these, it is not submitted. */
const NEEDED_BY_TEST_JOBS = ['slurm commands', 'partitions', 'presets'];

export async function runDoctor(
  ctx: IDoctorContext,
  options: IDoctorOptions
): Promise<ICheckResult[]> {
  const local = await Promise.all(localChecks(ctx));
  if (!options.submit) {
    return [
      ...local,
      skip('test job', 'run with --submit: a small job per preset'),
      skip('ssh to nodes', "run with --submit: ssh to the test jobs' nodes")
    ];
  }
  const blocker = local.find(
    r => NEEDED_BY_TEST_JOBS.includes(r.check) && r.status === 'fail'
  );
  if (blocker) {
    return [
      ...local,
      skip('test job', `not submitted: the ${blocker.check} check failed`),
      skip('ssh to nodes', 'no test job ran')
    ];
  }
  return [...local, ...(await runTestJobs(ctx, options))];
}

/** The command: parses its arguments, prints the report, and resolves the exit code. */
export async function doctor(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: 'boolean', default: false },
      submit: { type: 'boolean', default: false },
      partition: { type: 'string', short: 'p' },
      env: { type: 'string' }
    }
  });
  if (!values.submit && (values.partition || values.env)) {
    throw new CliError('-p and --env choose the test job: add --submit');
  }
  const results = await runDoctor(localContext(), {
    submit: values.submit,
    partition: values.partition,
    preset: values.env
  });
  process.stdout.write(values.json ? formatJson(results) : formatText(results));
  return exitCode(results);
}
