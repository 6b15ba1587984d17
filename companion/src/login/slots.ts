/**
 * A fixed number of slots, taken in order of asking: the session channels one ssh connection may
 * have open at once (sshd's MaxSessions), so the eleventh exec waits instead of being refused.
 */
export class Slots {
  constructor(private readonly _size: number) {}

  /** Runs `task` once a slot is free, and frees it when the task settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.hold();
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Takes a slot until the returned function is called (once; later calls do nothing). */
  hold(): Promise<() => void> {
    return new Promise(resolve => {
      const grant = () => {
        this._taken += 1;
        let released = false;
        resolve(() => {
          if (!released) {
            released = true;
            this._taken -= 1;
            this._waiting.shift()?.();
          }
        });
      };
      if (this._taken < this._size) {
        grant();
      } else {
        this._waiting.push(grant);
      }
    });
  }

  get taken(): number {
    return this._taken;
  }

  private _taken = 0;
  private _waiting: Array<() => void> = [];
}
