/**
 * What each doctor check found, and how the doctor prints it: one line per check, a "fix:" line under
 * each warning and failure; or the same as JSON.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface ICheckResult {
  /** The check's name, e.g. "slurm commands" or "ssh node1". */
  check: string;
  status: CheckStatus;
  /** What was found, in one line. */
  detail: string;
  /** How to fix it; only where it is not ok. */
  fix?: string;
}

export function ok(check: string, detail: string): ICheckResult {
  return { check, status: 'ok', detail };
}

export function warn(check: string, detail: string, fix: string): ICheckResult {
  return { check, status: 'warn', detail, fix };
}

export function fail(check: string, detail: string, fix: string): ICheckResult {
  return { check, status: 'fail', detail, fix };
}

export function skip(check: string, detail: string): ICheckResult {
  return { check, status: 'skip', detail };
}

/** The worst of several statuses: fail > warn > ok > skip. */
export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  const order: CheckStatus[] = ['fail', 'warn', 'ok', 'skip'];
  return order.find(s => statuses.includes(s)) ?? 'skip';
}

/** Words rather than symbols: they read the same in any terminal, log file and locale. */
const LABELS: Record<CheckStatus, string> = {
  ok: 'OK',
  warn: 'WARN',
  fail: 'FAIL',
  skip: 'SKIP'
};

/** One line per check, names aligned; "fix:" lines indented under the check they belong to. */
export function formatText(results: ICheckResult[]): string {
  const width = Math.max(0, ...results.map(r => r.check.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(
      `${LABELS[r.status].padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}`
    );
    if (r.fix && r.status !== 'ok') {
      lines.push(`${' '.repeat(6 + width + 2)}fix: ${r.fix}`);
    }
  }
  const failed = results.filter(r => r.status === 'fail').length;
  const warned = results.filter(r => r.status === 'warn').length;
  lines.push(
    failed + warned === 0
      ? 'Everything checked is ready.'
      : `${failed} failed, ${warned} warning(s).`
  );
  return `${lines.join('\n')}\n`;
}

/** The same as a JSON array of {check, status, detail, fix?}. */
export function formatJson(results: ICheckResult[]): string {
  return `${JSON.stringify(results, null, 1)}\n`;
}

/** 0 when nothing failed (warnings included), 1 otherwise. */
export function exitCode(results: ICheckResult[]): 0 | 1 {
  return results.some(r => r.status === 'fail') ? 1 : 0;
}
