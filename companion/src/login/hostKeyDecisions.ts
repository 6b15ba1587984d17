/**
 * One question per new host key, however many logins meet it at once. Two clusters of one lab
 * behind the same jump host, or a cluster added while another still asks about the same login
 * node, each reach that key before it is saved; the person is asked once, and every login waiting
 * on it takes the answer. Once trusted, the key is in known_hosts, where later logins find it.
 *
 * A question withdrawn (its login ended meanwhile: the server gave up, the cluster was taken out)
 * is no answer: a login still waiting asks the person itself.
 */

export type HostKeyVerdict = 'trusted' | 'refused' | 'withdrawn';

export class HostKeyDecisions {
  /**
   * The verdict on `key` (which host, port, key and known_hosts file): `ask`'s, or that of an ask
   * of another login already under way. `signal`: this login's; aborted, it stops waiting.
   */
  async decide(
    key: string,
    ask: () => Promise<HostKeyVerdict>,
    signal?: AbortSignal
  ): Promise<HostKeyVerdict> {
    for (;;) {
      const underWay = this._underWay.get(key);
      if (!underWay) {
        return this._ask(key, ask);
      }
      const verdict = await untilAborted(underWay, signal);
      if (verdict !== 'withdrawn' || signal?.aborted) {
        return verdict;
      }
    }
  }

  private _ask(
    key: string,
    ask: () => Promise<HostKeyVerdict>
  ): Promise<HostKeyVerdict> {
    const asking = ask().finally(() => this._underWay.delete(key));
    this._underWay.set(key, asking);
    return asking;
  }

  private readonly _underWay = new Map<string, Promise<HostKeyVerdict>>();
}

/** The verdict, or "withdrawn" as soon as this login's own signal is aborted. */
function untilAborted(
  verdict: Promise<HostKeyVerdict>,
  signal?: AbortSignal
): Promise<HostKeyVerdict> {
  if (!signal) {
    return verdict;
  }
  if (signal.aborted) {
    return Promise.resolve('withdrawn');
  }
  return new Promise(resolve => {
    const onAbort = () => resolve('withdrawn');
    signal.addEventListener('abort', onAbort, { once: true });
    void verdict.then(v => {
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    });
  });
}

/** The lab's logins share one: a companion asks about each new key once. */
export const hostKeyDecisions = new HostKeyDecisions();
