/**
 * The user's Slurm accounts and QOS, from the accounting database where the cluster has one
 * (`sacctmgr show associations`). Clusters without accounting know neither; then both lists are
 * empty and the form leaves the fields free.
 */
import { ICommandRunner } from './runner';

export interface IAssociations {
  accounts: string[];
  qos: string[];
}

export function sacctmgrArgv(user: string): string[] {
  return [
    'sacctmgr',
    '--noheader',
    '--parsable2',
    'show',
    'associations',
    `user=${user}`,
    'format=Account,QOS'
  ];
}

/** Parses "account|qos1,qos2" lines into sorted, distinct lists. */
export function parseAssociations(text: string): IAssociations {
  const accounts = new Set<string>();
  const qos = new Set<string>();
  for (const line of text.split('\n')) {
    const [account, qosList] = line.trim().split('|');
    if (account) {
      accounts.add(account);
    }
    for (const q of (qosList ?? '').split(',')) {
      if (q.trim()) {
        qos.add(q.trim());
      }
    }
  }
  return { accounts: [...accounts].sort(), qos: [...qos].sort() };
}

/**
 * Reads associations; remembers a cluster without accounting so sacctmgr is not asked again.
 */
export class AssociationsReader {
  constructor(
    private readonly _runner: ICommandRunner,
    private readonly _user: string
  ) {}

  async read(): Promise<IAssociations> {
    if (this._unavailable) {
      return { accounts: [], qos: [] };
    }
    try {
      const result = await this._runner.run(sacctmgrArgv(this._user), {
        timeoutMs: 10_000
      });
      if (result.code === 0) {
        return parseAssociations(result.stdout);
      }
    } catch {
      // sacctmgr missing or hanging on an unreachable slurmdbd
    }
    this._unavailable = true;
    return { accounts: [], qos: [] };
  }

  private _unavailable = false;
}
