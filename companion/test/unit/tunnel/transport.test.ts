/**
 * Which way to a gateway the companion tries, and the relay steps it starts and reaps.
 */
import {
  relayArgv,
  relayStepName,
  SrunRelay
} from '../../../src/tunnel/srunRelay';
import { OpenSshForwards } from '../../../src/tunnel/openssh';
import { SshPool, TunnelError } from '../../../src/tunnel/ssh';
import {
  NodeTransports,
  transportModeFrom
} from '../../../src/tunnel/transport';
import type { ICommandResult, ICommandRunner } from '../../../src/slurm';

const address = {
  jobId: '42',
  node: 'node2',
  port: 40123,
  python: '/env/bin/python3'
};

function transports(
  mode?: 'auto' | 'ssh' | 'openssh' | 'srun',
  commands: ICommandRunner = { run: async () => done('') },
  withOpenSsh = false
): NodeTransports {
  return new NodeTransports({
    ssh: new SshPool(),
    openssh: withOpenSsh
      ? new OpenSshForwards({
          runner: {
            stream: () => {
              throw new Error('not started in these tests');
            }
          },
          hostConfig: async () => {
            throw new Error('not asked in these tests');
          }
        })
      : undefined,
    srun: new SrunRelay({
      runner: {
        stream: () => {
          throw new Error('not started in these tests');
        }
      },
      commands,
      stepName: 'slurm-kernels-relay@login1'
    }),
    mode,
    rememberRefusalMs: 1_000
  });
}

function done(stdout: string): ICommandResult {
  return { code: 0, signal: null, stdout, stderr: '' };
}

describe('NodeTransports', () => {
  it('tries ssh, then srun, in auto; one of them when forced', () => {
    expect(
      transports()
        .candidates(address)
        .map(t => t.kind)
    ).toEqual(['ssh', 'srun']);
    expect(
      transports('ssh')
        .candidates(address)
        .map(t => t.kind)
    ).toEqual(['ssh']);
    expect(
      transports('srun')
        .candidates(address)
        .map(t => t.kind)
    ).toEqual(['srun']);
  });

  it("offers OpenSSH after ssh where it is installed, and after a refusal only if it was the host key's or the login's", () => {
    const kinds = (t: NodeTransports, node = 'node2') =>
      t.candidates({ ...address, node }).map(c => c.kind);
    const t = transports('auto', undefined, true);
    expect(kinds(t)).toEqual(['ssh', 'openssh', 'srun']);
    expect(kinds(transports('openssh', undefined, true))).toEqual(['openssh']);
    t.sshRefused(
      'node2',
      'ssh to node2 failed (a @cert-authority line)',
      new TunnelError('node2: a @cert-authority line', 'host-key')
    );
    expect(kinds(t)).toEqual(['openssh', 'srun']);
    t.sshRefused(
      'node1',
      'ssh to node1 failed (ECONNREFUSED)',
      new TunnelError('node1: ECONNREFUSED', 'connect')
    );
    expect(kinds(t, 'node1')).toEqual(['srun']);
    // Both refused: the relay at once.
    t.sshRefused(
      'node2',
      'ssh to node2 failed (…); OpenSSH to node2 failed (…)'
    );
    expect(kinds(t)).toEqual(['srun']);
    expect(
      NodeTransports.openSshMayHelp(new TunnelError('x', 'authentication'))
    ).toBe(true);
    expect(NodeTransports.openSshMayHelp(new Error('timeout'))).toBe(false);
  });

  it('goes straight to srun on a node that refused ssh lately, and says why', () => {
    const t = transports();
    t.sshRefused('node2', 'ssh to node2 failed (ECONNREFUSED)');
    expect(t.candidates(address).map(c => c.kind)).toEqual(['srun']);
    expect(t.sshRefusal('node2')).toBe('ssh to node2 failed (ECONNREFUSED)');
    expect(
      t.candidates({ ...address, node: 'node1' }).map(c => c.kind)
    ).toEqual(['ssh', 'srun']);
  });

  it('tries ssh again once the refusal is old', () => {
    const t = transports();
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now');
    clock.mockReturnValue(now);
    t.sshRefused('node2', 'refused');
    clock.mockReturnValue(now + 1_001);
    expect(t.candidates(address).map(c => c.kind)).toEqual(['ssh', 'srun']);
    clock.mockRestore();
  });

  it('keeps REST to two connections through srun (each is a step)', () => {
    const [ssh, srun] = transports().candidates(address);
    expect(srun.restConnections).toBe(2);
    expect(ssh.restConnections).toBeGreaterThan(srun.restConnections);
  });
});

describe('transportModeFrom', () => {
  it('takes the user environment over the site, and refuses an unknown mode by name', () => {
    expect(transportModeFrom({}, {})).toBe('auto');
    expect(transportModeFrom({}, { nodeTransport: 'srun' })).toBe('srun');
    expect(
      transportModeFrom(
        { SLURM_KERNELS_NODE_TRANSPORT: 'ssh' },
        { nodeTransport: 'srun' }
      )
    ).toBe('ssh');
    expect(() =>
      transportModeFrom({ SLURM_KERNELS_NODE_TRANSPORT: 'tcp' }, {})
    ).toThrow(
      'SLURM_KERNELS_NODE_TRANSPORT=tcp: expected one of auto, ssh, openssh, srun'
    );
  });
});

describe('the relay step', () => {
  it('runs in the job, on the gateway node, off the GPUs, unbuffered, without our environment', () => {
    const argv = relayArgv(address, 'slurm-kernels-relay@login1');
    expect(argv.slice(0, 11)).toEqual([
      'srun',
      '--jobid=42',
      '--overlap',
      '--gres=none',
      '--nodes=1',
      '--ntasks=1',
      '--nodelist=node2',
      '--unbuffered',
      '--export=NONE',
      '--quiet',
      '--job-name=slurm-kernels-relay@login1'
    ]);
    expect(argv.slice(11, 15)).toEqual(['/env/bin/python3', '-I', '-S', '-c']);
    expect(argv[argv.length - 1]).toBe('40123');
    // Nothing on its stdout but the gateway's bytes: a marker would cost a 40 ms stall.
    expect(argv[15]).not.toMatch(/print\(|READY/);
  });

  it('is named after the login host, so companions on other hosts keep theirs', () => {
    expect(relayStepName('login1.cluster.example')).toBe(
      'slurm-kernels-relay@login1'
    );
  });

  it('reaps only the steps of its own name in the job', async () => {
    const ran: string[][] = [];
    const commands: ICommandRunner = {
      run: async argv => {
        ran.push([...argv]);
        return argv[0] === 'squeue'
          ? done(
              [
                '42.batch batch',
                '42.3 slurm-kernels-relay@login1',
                '42.4 slurm-kernels-relay@login2',
                '42.5 my-own-step',
                '42.7 slurm-kernels-relay@login1'
              ].join('\n')
            )
          : done('');
      }
    };
    const reaped = await transports('srun', commands).relay.reapLeftovers('42');
    expect(reaped).toEqual(['42.3', '42.7']);
    expect(ran.filter(a => a[0] === 'scancel')).toEqual([
      ['scancel', '42.3'],
      ['scancel', '42.7']
    ]);
  });
});
