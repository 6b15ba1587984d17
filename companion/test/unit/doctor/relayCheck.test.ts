import { checkReachingNode, relayProbe } from '../../../src/doctor/relayCheck';
import { fail, ok } from '../../../src/doctor/report';
import type { ICommandResult } from '../../../src/slurm';

const sshOk = async () => ({
  result: ok('ssh node2', 'host key of node2 known'),
  openSshMayHelp: false
});
const sshRefused = async () => ({
  result: fail(
    'ssh node2',
    "node2's sshd does not answer (connection refused)",
    'ask the admins'
  ),
  openSshMayHelp: false
});
/** ssh2 could not verify the host key (a @cert-authority line): the user's OpenSSH may. */
const sshHostKeyRefused = async () => ({
  result: fail(
    'ssh node2',
    'node2 is vouched for only by a @cert-authority line in known_hosts',
    'add the key'
  ),
  openSshMayHelp: true
});
const openSshOk = async () =>
  ok('openssh node2', 'your OpenSSH (ssh -W) verifies node2');
const openSshRefused = async () =>
  fail(
    'openssh node2',
    "node2: OpenSSH's ssh failed: Host key verification failed.",
    'check the key'
  );
const unexpected = async (): Promise<never> => {
  throw new Error('this way must not be checked');
};
const relayAnswers = async () => undefined;
const relayFails = async () => {
  throw new Error(
    'Unable to create step for job 7: Job/step already completing or completed'
  );
};

describe('how the doctor says a node is reached', () => {
  it('is ssh alone where ssh works', async () => {
    let relayed = false;
    const results = await checkReachingNode('node2', '7', 'auto', {
      ssh: sshOk,
      openSsh: unexpected,
      relay: async () => {
        relayed = true;
      }
    });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'ok']
    ]);
    expect(relayed).toBe(false);
  });

  it('warns of ssh and passes the relay where ssh fails and the relay carries the node (auto)', async () => {
    const results = await checkReachingNode('node2', '7', 'auto', {
      ssh: sshRefused,
      openSsh: unexpected,
      relay: relayAnswers
    });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'warn'],
      ['srun relay node2', 'ok']
    ]);
    expect(results[0].detail).toMatch(
      /connection refused\); the companion reaches node2 through the srun relay instead/
    );
  });

  it('fails both where neither works, with srun own words', async () => {
    const results = await checkReachingNode('node2', '7', 'auto', {
      ssh: sshRefused,
      openSsh: unexpected,
      relay: relayFails
    });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'fail'],
      ['srun relay node2', 'fail']
    ]);
    expect(results[1].detail).toMatch(/Unable to create step for job 7/);
  });

  it('checks only what the mode uses', async () => {
    const checks = {
      ssh: sshHostKeyRefused,
      openSsh: openSshOk,
      relay: relayAnswers
    };
    const checked = async (mode: 'ssh' | 'openssh' | 'srun') =>
      (await checkReachingNode('node2', '7', mode, checks)).map(r => r.check);
    expect(await checked('ssh')).toEqual(['ssh node2']);
    expect(await checked('openssh')).toEqual(['openssh node2']);
    expect(await checked('srun')).toEqual(['srun relay node2']);
  });

  it("tries the user's OpenSSH after a host-key or login refusal, and stops there where it works", async () => {
    const results = await checkReachingNode('node2', '7', 'auto', {
      ssh: sshHostKeyRefused,
      openSsh: openSshOk,
      relay: unexpected
    });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'warn'],
      ['openssh node2', 'ok']
    ]);
    expect(results[0].detail).toMatch(
      /@cert-authority line in known_hosts; the companion reaches node2 through your OpenSSH \(ssh -W\) instead/
    );
  });

  it('goes on to the relay where OpenSSH is refused too, and warns of both where the relay works', async () => {
    const results = await checkReachingNode('node2', '7', 'auto', {
      ssh: sshHostKeyRefused,
      openSsh: openSshRefused,
      relay: relayAnswers
    });
    expect(results.map(r => [r.check, r.status])).toEqual([
      ['ssh node2', 'warn'],
      ['openssh node2', 'warn'],
      ['srun relay node2', 'ok']
    ]);
    expect(results[1].detail).toMatch(
      /Host key verification failed\.; the companion reaches node2 through the srun relay/
    );
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
