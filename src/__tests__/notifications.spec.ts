import { Notification } from '@jupyterlab/apputils';
import type { Allocation } from '../api/allocation';
import { notifyTransition } from '../notifications';
import { trans } from './fixtures';

const ended = (state: string, message: string, autoCancelled?: boolean) =>
  ({
    id: 'a1',
    jobId: '17',
    node: 'node1',
    kernelspecs: [],
    outcome: { state, exitCode: '0:0', message, autoCancelled }
  }) as unknown as Allocation;

const actions = { openNotebook: () => undefined, showLog: () => undefined };

describe('notifyTransition', () => {
  let error: jest.SpyInstance;
  let info: jest.SpyInstance;

  beforeEach(() => {
    error = jest.spyOn(Notification, 'error');
    info = jest.spyOn(Notification, 'info');
  });

  afterEach(() => jest.restoreAllMocks());

  it('says a job reached its time limit, though Slurm showed it ending first', () => {
    notifyTransition(
      {
        allocation: ended('TIMEOUT', 'The job reached its time limit.'),
        from: 'ending',
        to: 'ended'
      },
      trans,
      actions
    );
    expect(error).toHaveBeenCalledWith(
      'Job 17: The job reached its time limit.',
      expect.anything()
    );
  });

  it("leaves the user's own cancel unsaid, and says a cancel of the policy as such", () => {
    notifyTransition(
      {
        allocation: ended('CANCELLED', 'The job was cancelled.'),
        from: 'ending',
        to: 'ended'
      },
      trans,
      actions
    );
    expect(error).not.toHaveBeenCalled();
    expect(info).not.toHaveBeenCalled();
    notifyTransition(
      {
        allocation: ended(
          'CANCELLED',
          'Cancelled for you: no kernel ran in it for 5 min.',
          true
        ),
        from: 'ending',
        to: 'ended'
      },
      trans,
      actions
    );
    expect(info).toHaveBeenCalledWith(
      'Job 17: Cancelled for you: no kernel ran in it for 5 min.',
      expect.anything()
    );
    expect(error).not.toHaveBeenCalled();
  });

  it('names the cluster where the lab has several: job ids repeat across clusters', () => {
    const success = jest.spyOn(Notification, 'success');
    const ready = {
      ...ended('RUNNING', ''),
      outcome: undefined,
      kernelspecs: [{ name: 'slurm-hpc-17-python3' }]
    } as unknown as Allocation;
    notifyTransition(
      { allocation: ready, from: 'running', to: 'ready' },
      trans,
      actions,
      'hpc'
    );
    notifyTransition(
      {
        allocation: ended('TIMEOUT', 'The job reached its time limit.'),
        from: 'ending',
        to: 'ended'
      },
      trans,
      actions,
      'hpc'
    );
    expect(success).toHaveBeenCalledWith(
      'hpc · Job 17 is ready on node1: its kernels are in the kernel picker.',
      expect.anything()
    );
    expect(error).toHaveBeenCalledWith(
      'hpc · Job 17: The job reached its time limit.',
      expect.anything()
    );
  });
});
