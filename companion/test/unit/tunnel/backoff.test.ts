import { Backoff } from '../../../src/tunnel/backoff';

describe('Backoff', () => {
  it('retries at once after one failure, then doubles up to the cap', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    const delays = Array.from({ length: 7 }, () => backoff.fail());
    expect(delays).toEqual([0, 100, 200, 400, 800, 1000, 1000]);
    expect(backoff.failures).toBe(7);
  });

  it('starts over after a success', () => {
    const backoff = new Backoff({ initialMs: 100, jitter: 0 });
    backoff.fail();
    backoff.fail();
    backoff.succeed();
    expect(backoff.failures).toBe(0);
    expect(backoff.fail()).toBe(0);
    expect(backoff.fail()).toBe(100);
  });

  it('takes a random share off each delay, never more than the jitter', () => {
    const lowest = new Backoff({
      initialMs: 1000,
      jitter: 0.2,
      random: () => 1
    });
    const highest = new Backoff({
      initialMs: 1000,
      jitter: 0.2,
      random: () => 0
    });
    lowest.fail();
    highest.fail();
    expect(lowest.fail()).toBe(800);
    expect(highest.fail()).toBe(1000);
  });
});
