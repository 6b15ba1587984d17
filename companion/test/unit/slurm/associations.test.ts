import {
  AssociationsReader,
  parseAssociations
} from '../../../src/slurm/associations';
import { FakeRunner } from './fake-runner';

describe('associations', () => {
  it('reads accounts and QOS from sacctmgr --parsable2', () => {
    expect(parseAssociations('physics|normal,gpu-high\nchem|normal\n')).toEqual(
      {
        accounts: ['chem', 'physics'],
        qos: ['gpu-high', 'normal']
      }
    );
  });

  it('gives empty lists where Slurm has no accounting, and stops asking', async () => {
    const runner = new FakeRunner(() => ({
      code: 1,
      stderr: 'sacctmgr: error: Slurm accounting storage is disabled'
    }));
    const reader = new AssociationsReader(runner, 'alice');
    expect(await reader.read()).toEqual({ accounts: [], qos: [] });
    expect(await reader.read()).toEqual({ accounts: [], qos: [] });
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0].argv).toEqual([
      'sacctmgr',
      '--noheader',
      '--parsable2',
      'show',
      'associations',
      'user=alice',
      'format=Account,QOS'
    ]);
  });
});
