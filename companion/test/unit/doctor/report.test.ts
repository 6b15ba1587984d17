import {
  exitCode,
  fail,
  formatJson,
  formatText,
  ok,
  skip,
  warn,
  worstStatus
} from '../../../src/doctor/report';

const results = [
  ok('slurm commands', 'sbatch, squeue in /usr/bin; slurm-wlm 22.05.8'),
  warn(
    'state dir',
    '/home/a/.local/state/slurm-kernels is mode 0755',
    'chmod 700 DIR'
  ),
  fail('ssh node1', 'node1 is not in known_hosts', 'add its key'),
  skip('test job', 'run with --submit')
];

describe('the doctor report', () => {
  it('prints one line per check, names aligned, and a fix line under each problem', () => {
    expect(formatText(results).split('\n')).toEqual([
      'OK    slurm commands  sbatch, squeue in /usr/bin; slurm-wlm 22.05.8',
      'WARN  state dir       /home/a/.local/state/slurm-kernels is mode 0755',
      '                      fix: chmod 700 DIR',
      'FAIL  ssh node1       node1 is not in known_hosts',
      '                      fix: add its key',
      'SKIP  test job        run with --submit',
      '1 failed, 1 warning(s).',
      ''
    ]);
  });

  it('says so when everything is ready', () => {
    expect(formatText([ok('node.js', 'v20.1.0')])).toBe(
      'OK    node.js  v20.1.0\nEverything checked is ready.\n'
    );
  });

  it('--json: an array of {check, status, detail, fix?}, fix only where there is one', () => {
    const parsed = JSON.parse(formatJson(results));
    expect(parsed).toEqual([
      {
        check: 'slurm commands',
        status: 'ok',
        detail: 'sbatch, squeue in /usr/bin; slurm-wlm 22.05.8'
      },
      {
        check: 'state dir',
        status: 'warn',
        detail: '/home/a/.local/state/slurm-kernels is mode 0755',
        fix: 'chmod 700 DIR'
      },
      {
        check: 'ssh node1',
        status: 'fail',
        detail: 'node1 is not in known_hosts',
        fix: 'add its key'
      },
      { check: 'test job', status: 'skip', detail: 'run with --submit' }
    ]);
  });

  it('exits 1 only when a check failed; warnings and skips exit 0', () => {
    expect(exitCode(results)).toBe(1);
    expect(exitCode(results.filter(r => r.status !== 'fail'))).toBe(0);
    expect(exitCode([])).toBe(0);
  });

  it('orders statuses fail > warn > ok > skip', () => {
    expect(worstStatus(['ok', 'warn', 'skip'])).toBe('warn');
    expect(worstStatus(['ok', 'fail'])).toBe('fail');
    expect(worstStatus(['skip'])).toBe('skip');
  });
});
