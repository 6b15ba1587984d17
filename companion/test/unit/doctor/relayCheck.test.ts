import { checkReachingNode, relayProbe } from '../../../src/doctor/relayCheck';
import { fail, ok } from '../../../src/doctor/report';
import type { ICommandResult } from '../../../src/slurm';

const sshOk = async () => ok('ssh node2', 'host key of node2 known');
const sshRefused = async () =>
  fail(
    'ssh node2',
    "node2's sshd does not answer (connection refused)",
    'ask the admins'
  );
const relayAnswers = async () => undefined;
const relayFails = async () => {
  throw new Error(
    'Unable to create step for job 7: Job/step already completing or completed'
  );
};

describe('how the doctor says a node is reached', () => {
  it('is ssh alone where ssh works', async () => {
    let relayed = false;
    const results = await checkReachingNode(
      'node2',
      '7',
      'auto',
      sshOk,
      async () => {
        relayed = true;
      }
    );
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'ok']
    ]);
    expect(relayed).toBe(false);
  });

  it('warns of ssh and passes the relay where ssh fails and the relay carries the node (auto)', async () => {
    const results = await checkReachingNode(
      'node2',
      '7',
      'auto',
      sshRefused,
      relayAnswers
    );
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'warn'],
      ['srun relay node2', 'ok']
    ]);
    expect(results[0].detail).toMatch(
      /connection refused\); the companion reaches node2 through the srun relay instead/
    );
  });

  it('fails both where neither works, with srun own words', async () => {
    const results = await checkReachingNode(
      'node2',
      '7',
      'auto',
      sshRefused,
      relayFails
    );
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'fail'],
      ['srun relay node2', 'fail']
    ]);
    expect(results[1].detail).toMatch(/Unable to create step for job 7/);
  });

  it('checks only what the mode uses', async () => {
    expect(
      (
        await checkReachingNode('node2', '7', 'ssh', sshRefused, relayAnswers)
      ).map(r => r.check)
    ).toEqual(['ssh node2']);
    expect(
      (
        await checkReachingNode('node2', '7', 'srun', sshRefused, relayAnswers)
      ).map(r => r.check)
    ).toEqual(['srun relay node2']);
  });

  it('starts its step as the companion starts a relay, and reads the answer', async () => {
    const seen: string[][] = [];
    const probe = relayProbe({
      run: async (argv): Promise<ICommandResult> => {
        seen.push([...argv]);
        return {
          code: 0,
          signal: null,
          stdout: `${argv[argv.length - 1]}\n`,
          stderr: ''
        };
      }
    });
    await probe('7', 'node2');
    expect(seen[0]).toEqual(
      expect.arrayContaining([
        'srun',
        '--jobid=7',
        '--overlap',
        '--gres=none',
        '--nodelist=node2',
        '--unbuffered',
        '--export=NONE'
      ])
    );
  });
});
