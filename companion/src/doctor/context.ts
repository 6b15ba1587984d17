/**
 * What the doctor's checks run against: the user, their environment, a command runner and PATH.
 * Unit tests give a fake runner and a fake `which`; the real ones run on this host, in-process,
 * without a companion.
 */
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/api/cluster';
import { presetFiles } from '../presets';
import { siteConfigFile } from '../site';
import { ICommandRunner, LocalRunner, readCluster } from '../slurm';

export interface IDoctorContext {
  runner: ICommandRunner;
  env: NodeJS.ProcessEnv;
  user: string;
  uid: number;
  /** The absolute path of an executable on PATH, or null. */
  which(command: string): Promise<string | null>;
  /** The cluster as Slurm describes it; read once, shared by the checks that need it. */
  cluster(): Promise<Cluster>;
  /** The environment presets files, site's first (presets.ts presetFiles()). */
  presetFiles: string[];
  /** The site's configuration (site.ts), which may hold presets too. */
  siteConfigFile: string;
  /** A progress line (stderr): the test jobs take a while. */
  progress(line: string): void;
}

/** The first executable file named `command` in the directories of `searchPath`. */
export async function findOnPath(
  command: string,
  searchPath: string | undefined
): Promise<string | null> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, command);
    try {
      await fs.access(candidate, constants.X_OK);
      if ((await fs.stat(candidate)).isFile()) {
        return candidate;
      }
    } catch {
      // not here: the next directory
    }
  }
  return null;
}

/** Reads `load()` once, on first use. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= load());
}

export function localContext(
  env: NodeJS.ProcessEnv = process.env
): IDoctorContext {
  const runner = new LocalRunner(env);
  return {
    runner,
    env,
    user: os.userInfo().username,
    uid: os.userInfo().uid,
    which: command => findOnPath(command, env.PATH),
    cluster: once(() => readCluster(runner)),
    presetFiles: presetFiles(env),
    siteConfigFile: siteConfigFile(env),
    progress: line => process.stderr.write(`doctor: ${line}\n`)
  };
}
