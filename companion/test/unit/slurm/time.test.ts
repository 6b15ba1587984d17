import {
  formatSlurmMinutes,
  parseSlurmMinutes
} from '../../../../src/api/slurmTime';

describe('parseSlurmMinutes', () => {
  it.each([
    ['30', 30],
    ['1:30', 2], // minutes:seconds, rounded up as Slurm does
    ['02:00:00', 120],
    ['1-0', 1440],
    ['1-02:30', 1590],
    ['2-00:00:01', 2881],
    ['08:00:00', 480]
  ])('parses %s as %d minutes', (text, minutes) => {
    expect(parseSlurmMinutes(text)).toBe(minutes);
  });

  it('reads UNLIMITED and INFINITE as no limit', () => {
    expect(parseSlurmMinutes('UNLIMITED')).toBeNull();
    expect(parseSlurmMinutes('infinite')).toBeNull();
  });

  it.each(['', 'NONE', '1h', '1:2:3:4', '-5', '1-', '12:00; rm -rf ~'])(
    'rejects %p',
    text => {
      expect(parseSlurmMinutes(text)).toBeUndefined();
    }
  );
});

describe('formatSlurmMinutes', () => {
  it('prints limits the way scontrol does', () => {
    expect(formatSlurmMinutes(480)).toBe('08:00:00');
    expect(formatSlurmMinutes(1590)).toBe('1-02:30:00');
  });
});
