import {
  allocationRequestSchema,
  checkAgainstCluster,
  parseGresRequest
} from '../../../../src/api/allocation';
import { buildCluster } from '../../../src/slurm/cluster';
import { fixture } from '../fixtures';

const cluster = buildCluster(
  fixture('sinfo-nodes.txt'),
  fixture('scontrol-partitions.txt'),
  new Date()
);

function problemOf(input: object): { field: string; message: string } | null {
  const parsed = allocationRequestSchema.safeParse(input);
  if (!parsed.success) {
    return {
      field: String(parsed.error.issues[0].path[0]),
      message: parsed.error.issues[0].message
    };
  }
  return checkAgainstCluster(parsed.data, cluster);
}

describe('the allocation request schema', () => {
  it('accepts GRES in every form Slurm takes and every Slurm time format', () => {
    expect(parseGresRequest('gpu')).toEqual({
      name: 'gpu',
      type: null,
      count: 1
    });
    expect(parseGresRequest('gpu:2')).toEqual({
      name: 'gpu',
      type: null,
      count: 2
    });
    expect(parseGresRequest('gpu:tesla:2')).toEqual({
      name: 'gpu',
      type: 'tesla',
      count: 2
    });
    // The cpu partition allows one day.
    for (const time of [
      '30',
      '30:00',
      '1:00:00',
      '1-0',
      '0-23:59',
      '0-08:00:00'
    ]) {
      expect(
        problemOf({ partition: 'cpu', gres: 'gpu:tesla:1', time })
      ).toBeNull();
    }
  });

  it.each([
    [{ partition: 'gpu; rm -rf ~', time: '1:00:00' }, 'partition'],
    [{ partition: 'gpu', time: '1:00:00\nsrun evil' }, 'time'],
    [{ partition: 'gpu', time: '1h' }, 'time'],
    [{ partition: 'gpu', time: '0' }, 'time'],
    [{ partition: 'gpu', gres: 'gpu:$(id)', time: '1:00:00' }, 'gres'],
    [{ partition: 'gpu', gres: 'gpu:0', time: '1:00:00' }, 'gres'],
    [{ partition: 'gpu', memory: '16 G', time: '1:00:00' }, 'memory'],
    [{ partition: 'gpu', cpus: 2.5, time: '1:00:00' }, 'cpus'],
    [{ partition: 'gpu', account: 'a`b`', time: '1:00:00' }, 'account'],
    [
      {
        partition: 'gpu',
        time: '1:00:00',
        environment: { venv: '/opt/env; id' }
      },
      'environment'
    ],
    [
      {
        partition: 'gpu',
        time: '1:00:00',
        environment: { init: ['ok\nsecond line'] }
      },
      'environment'
    ],
    [{ partition: 'gpu', time: '1:00:00', extra: 'x' }, '']
  ])('refuses %j, naming the field', (input, field) => {
    const problem = problemOf(input);
    expect(problem).not.toBeNull();
    if (field) {
      expect(problem?.field).toBe(field);
    }
  });
});

describe('checkAgainstCluster (real 22.05 testbed output)', () => {
  it('refuses an unknown partition and lists the real ones', () => {
    expect(problemOf({ partition: 'a100', time: '10' })).toEqual({
      field: 'partition',
      message: 'no partition "a100" on this cluster (there are: cpu, gpu)'
    });
  });

  it('refuses more GPUs than any node has, and an unknown GPU type', () => {
    expect(problemOf({ partition: 'gpu', gres: 'gpu:99', time: '10' })).toEqual(
      {
        field: 'gres',
        message: 'no node of gpu has 99 GPUs; at most 2 per node'
      }
    );
    expect(
      problemOf({ partition: 'gpu', gres: 'gpu:v100:1', time: '10' })
    ).toMatchObject({
      field: 'gres',
      message: 'partition gpu has no v100 GPUs (it has: tesla)'
    });
  });

  it('refuses a time above the partition MaxTime', () => {
    expect(
      problemOf({ partition: 'gpu', gres: 'gpu:1', time: '8:00:01' })
    ).toEqual({
      field: 'time',
      message: 'partition gpu allows at most 08:00:00'
    });
    expect(
      problemOf({ partition: 'gpu', gres: 'gpu:1', time: '8:00:00' })
    ).toBeNull();
  });
});

describe('checking account and QOS against Slurm accounting', () => {
  const withAccounting = {
    ...cluster,
    accounts: ['chemistry', 'physics'],
    qos: ['debug', 'normal']
  };
  const check = (extra: object) =>
    checkAgainstCluster(
      allocationRequestSchema.parse({
        partition: 'gpu',
        gres: 'gpu:1',
        time: '30',
        ...extra
      }),
      withAccounting
    );

  it("accepts the user's own account and QOS, and no choice at all", () => {
    expect(check({ account: 'physics', qos: 'debug' })).toBeNull();
    expect(check({})).toBeNull();
  });

  it('names the field and the choices the user has', () => {
    expect(check({ account: 'biology' })).toEqual({
      field: 'account',
      message:
        'you have no account "biology" on this cluster (yours: chemistry, physics)'
    });
    expect(check({ qos: 'high' })).toEqual({
      field: 'qos',
      message: 'you have no QOS "high" on this cluster (yours: debug, normal)'
    });
  });

  it('checks nothing where the cluster has no accounting', () => {
    expect(
      checkAgainstCluster(
        allocationRequestSchema.parse({
          partition: 'gpu',
          time: '30',
          account: 'anything'
        }),
        { ...cluster, accounts: [], qos: [] }
      )
    ).toBeNull();
  });
});
