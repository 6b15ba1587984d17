/**
 * Exponential backoff with jitter, for reconnecting to a node: the first retry comes at once, later
 * ones wait longer each time, up to a cap, so an unreachable node is not hammered and many kernels
 * that lost the same link do not all retry in the same instant.
 */
export interface IBackoffOptions {
  /** Delay after the second failure in a row; default 250 ms (the first retry waits for nothing). */
  initialMs?: number;
  /** Longest delay; default 30 s. */
  maxMs?: number;
  /** 0..1, the share of each delay that is random; default 0.2. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  constructor(options: IBackoffOptions = {}) {
    this._initialMs = options.initialMs ?? 250;
    this._maxMs = options.maxMs ?? 30_000;
    this._jitter = options.jitter ?? 0.2;
    this._random = options.random ?? Math.random;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this._failures;
  }

  /** Records a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this._failures += 1;
    if (this._failures === 1) {
      return 0;
    }
    const base = Math.min(
      this._maxMs,
      this._initialMs * 2 ** (this._failures - 2)
    );
    return Math.round(base * (1 - this._jitter * this._random()));
  }

  succeed(): void {
    this._failures = 0;
  }

  private _initialMs: number;
  private _maxMs: number;
  private _jitter: number;
  private _random: () => number;
  private _failures = 0;
}
