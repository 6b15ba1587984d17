/**
 * The manual path's job, as users start it today (`../shared/reference/baseline-perf.md`):
 * `jupyter server` in a gpu:1 job on a node, its IOPub rate limit off like ours, its token in a
 * 0600 file (never argv: jobs get none of our environment). How it is reached (`ssh -L` here,
 * `ssh -J -L` from the laptop) is each benchmark's.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  cancelJob,
  listJobs,
  LocalRunner,
  submitJob
} from '../companion/src/slurm';
import { waitFor } from '../companion/test/integration/testbed';
import { SITE_ENV, type Cleanup } from './measure';

export interface IManualServer {
  token: string;
  /** Its port on the node's loopback. */
  port: number;
  node: string;
}

/** Submits the job and waits until it runs; the job is cancelled at cleanup. */
export async function startManualServer(o: {
  /** On the cluster's file system: the token, the server's root, the job log. */
  dir: string;
  jobName: string;
  cleanup: Cleanup;
}): Promise<IManualServer> {
  const runner = new LocalRunner();
  const token = randomBytes(16).toString('hex');
  const port = 20000 + Math.floor(Math.random() * 40000);
  const tokenFile = path.join(o.dir, 'manual-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const jobId = await submitJob(runner, {
    script: [
      '#!/bin/bash',
      `source ${SITE_ENV}/bin/activate`,
      `export JUPYTER_TOKEN_FILE=${tokenFile}`,
      `exec jupyter server --no-browser --ip=127.0.0.1 --port=${port} --ServerApp.port_retries=0 ` +
        `--ServerApp.root_dir=${o.dir} --ZMQChannelsWebsocketConnection.limit_rate=False`,
      ''
    ].join('\n'),
    partition: 'gpu',
    gres: 'gpu:1',
    time: '30',
    jobName: o.jobName,
    output: path.join(o.dir, 'manual-%j.log')
  });
  o.cleanup.push(() => cancelJob(runner, jobId));
  const job = await waitFor('the manual job to run', async () => {
    const [j] = await listJobs(runner, { jobIds: [jobId] });
    return j?.state === 'RUNNING' ? j : undefined;
  });
  return { token, port, node: job.nodes };
}
