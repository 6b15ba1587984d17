/**
 * Slurm's pending reasons (squeue %r) in plain words, for people waiting on a queue.
 * Codes from Slurm's squeue(1) "JOB REASON CODES"; unknown codes fall back to the code itself.
 */
const REASONS: Record<string, string> = {
  None: 'Waiting for the scheduler to consider the job.',
  Priority:
    'Other jobs in the queue have higher priority; it starts when their turn is over.',
  Resources:
    'Waiting for resources: the GPUs or nodes asked for are in use by other jobs.',
  Dependency: 'Waiting for a job it depends on to finish.',
  DependencyNeverSatisfied:
    'It depends on a job that failed; it will never start. Cancel it.',
  BeginTime: 'Its earliest start time has not been reached yet.',
  JobHeldUser: 'Held by you (scontrol release to let it run).',
  JobHeldAdmin: 'Held by an administrator.',
  ReqNodeNotAvail:
    'A node it needs is not available (down, drained or reserved).',
  PartitionDown: 'The partition is down.',
  PartitionInactive: 'The partition is inactive.',
  PartitionNodeLimit: 'It asks for more nodes than the partition allows.',
  PartitionTimeLimit:
    'Its time limit is longer than the partition allows; it will never start. Cancel it.',
  NodeDown: 'A node it needs is down.',
  BadConstraints: 'No node matches its constraints; it will never start.',
  Reservation: 'Waiting for its reservation to start.',
  Licenses: 'Waiting for a license.',
  QOSMaxGRESPerUser:
    'You already use as many GPUs as your QOS allows; it starts when one of your jobs ends.',
  QOSMaxJobsPerUserLimit: 'You already run as many jobs as your QOS allows.',
  QOSGrpGRES: 'Your QOS group uses all the GPUs it may.',
  AssocGrpGRES: 'Your account uses all the GPUs it may right now.',
  AssocMaxJobsLimit: 'Your account runs as many jobs as it may.',
  AssocGrpCPUMinutesLimit: "Your account's CPU time budget is used up.",
  AssocGrpGRESMinutes: "Your account's GPU time budget is used up.",
  InvalidAccount: 'The account is not valid for you or this partition.',
  InvalidQOS: 'The QOS is not valid for you or this partition.',
  launch_failed_requeued_held:
    'The job failed to launch and was held; ask the administrators.'
};

/** The plain-words explanation of a pending reason code. */
export function describePendingReason(code: string): string {
  return REASONS[code] ?? `Slurm reports: ${code}.`;
}
