/**
 * When a ready allocation is cancelled on the user's behalf, so its GPUs are not held for nobody:
 * its last kernel was shut down a grace ago (no_kernel), none of its kernels has run code for the
 * idle limit (idle), or its GPUs have all been at 0 % for the GPU idle limit (gpu_idle). A kernel
 * running code is never cancelled, whatever its GPUs do. Pure: the manager feeds
 * it what the bridges saw and what it persisted, and asks the gateway before it acts.
 */
import type { AutoCancel, CancelPolicy } from '../../../src/api/allocation';

export type { CancelPolicy };

/** What the user gets without saying: a kernel-less allocation goes after 5 min; idle ones stay. */
export const DEFAULT_CANCEL_POLICY: CancelPolicy = {
  noKernelMinutes: 5,
  idleMinutes: 0
};

/** The stricter of two policies, limit by limit, where 0 means "never". */
export function strictestPolicy(
  a: CancelPolicy,
  b: Partial<CancelPolicy>
): CancelPolicy {
  return {
    noKernelMinutes: strictest(a.noKernelMinutes, b.noKernelMinutes ?? 0),
    idleMinutes: strictest(a.idleMinutes, b.idleMinutes ?? 0),
    gpuIdleMinutes: a.gpuIdleMinutes ?? b.gpuIdleMinutes,
    gpuIdleCancelMinutes: strictest(
      a.gpuIdleCancelMinutes ?? 0,
      b.gpuIdleCancelMinutes ?? 0
    )
  };
}

/** The GPU idle flag's window where the user set none (minutes). */
export const DEFAULT_GPU_IDLE_MINUTES = 30;

function strictest(a: number, b: number): number {
  const set = [a, b].filter(minutes => minutes > 0);
  return set.length > 0 ? Math.min(...set) : 0;
}

/** What is known of an allocation's kernels, in ms since the epoch. */
export interface IKernelUse {
  /** When it became ready: with no code run since, it has been idle from then. */
  readyAt: number;
  /** Remote kernels running now. */
  kernels: number;
  /** Whether one of them runs code now. */
  executing: boolean;
  /** When code last ran (a cell started or ended), if ever. */
  lastExecution?: number;
  /** When its last kernel was shut down, while none has started since. */
  lastKernelEndedAt?: number;
  /** When the user last said "keep": every limit counts from there at the earliest. */
  keptAt?: number;
  /** Since when every GPU it has has been at 0 %, while that is known (fresh samples, not MIG). */
  gpusIdleSince?: number;
}

/** When the allocation is to be cancelled and why, or null while nothing says it should. */
export function autoCancelDue(
  policy: CancelPolicy,
  use: IKernelUse
): AutoCancel | null {
  if (use.executing) {
    return null;
  }
  const kept = use.keptAt ?? 0;
  const due: AutoCancel[] = [];
  if (
    policy.noKernelMinutes > 0 &&
    use.kernels === 0 &&
    use.lastKernelEndedAt !== undefined
  ) {
    due.push({
      at: at(Math.max(use.lastKernelEndedAt, kept), policy.noKernelMinutes),
      why: 'no_kernel'
    });
  }
  if (policy.idleMinutes > 0) {
    const since = Math.max(use.readyAt, use.lastExecution ?? 0, kept);
    due.push({ at: at(since, policy.idleMinutes), why: 'idle' });
  }
  const gpuIdle = policy.gpuIdleCancelMinutes ?? 0;
  if (gpuIdle > 0 && use.gpusIdleSince !== undefined) {
    // The job's gateway knows of idleness from before the allocation was ready (or this
    // companion started): the limit counts from ready at the earliest, as the others do.
    const since = Math.max(use.gpusIdleSince, use.readyAt, kept);
    due.push({ at: at(since, gpuIdle), why: 'gpu_idle' });
  }
  return due.sort((x, y) => x.at.localeCompare(y.at))[0] ?? null;
}

function at(since: number, minutes: number): string {
  return new Date(since + minutes * 60_000).toISOString();
}

/** How often the policy is looked at: often enough for the shortest limit, at most every 15 s. */
export function policyTickMs(policy: CancelPolicy): number {
  const limits = [
    policy.noKernelMinutes,
    policy.idleMinutes,
    policy.gpuIdleCancelMinutes ?? 0
  ].filter(m => m > 0);
  if (limits.length === 0) {
    return 15_000;
  }
  return Math.min(15_000, Math.max(1_000, (Math.min(...limits) * 60_000) / 10));
}

/** Why, in words, for the allocation's outcome and the lab. */
export function autoCancelReason(
  due: AutoCancel,
  policy: CancelPolicy
): string {
  switch (due.why) {
    case 'no_kernel':
      return `no kernel ran in it for ${minutes(policy.noKernelMinutes)}`;
    case 'idle':
      return `no code ran in it for ${minutes(policy.idleMinutes)}`;
    case 'gpu_idle':
      return `its GPUs were idle (0 %) for ${minutes(policy.gpuIdleCancelMinutes ?? 0)}`;
  }
}

function minutes(m: number): string {
  return m >= 1 && Number.isInteger(m) ? `${m} min` : `${Math.round(m * 60)} s`;
}
