/**
 * Generic resources as Slurm prints them: "gpu:tesla:2", "gpu:2(S:0-1)", "gpu:tesla:1(IDX:0,1)",
 * several separated by commas, or "(null)" when a node has none.
 */
export interface IGres {
  /** The GRES name, e.g. "gpu". */
  name: string;
  /** The type, e.g. "tesla", or null when untyped. */
  type: string | null;
  count: number;
}

/**
 * Parses a node's GRES list (`sinfo %G` / `Gres`, or `GresUsed`).
 */
export function parseGresList(text: string): IGres[] {
  const value = text.trim();
  if (value === '' || value === '(null)' || value === 'N/A') {
    return [];
  }
  return splitOutsideParens(value)
    .map(parseOneGres)
    .filter((g): g is IGres => g !== null);
}

function parseOneGres(item: string): IGres | null {
  // Drop a trailing "(S:0-1)" or "(IDX:0)" annotation: socket affinity or the indexes in use.
  const bare = item.replace(/\(.*\)$/, '');
  const parts = bare.split(':');
  const name = parts[0];
  if (!name) {
    return null;
  }
  const last = parts[parts.length - 1];
  const count = parts.length > 1 && /^\d+$/.test(last) ? Number(last) : 1;
  const typeParts = /^\d+$/.test(last) ? parts.slice(1, -1) : parts.slice(1);
  return {
    name,
    type: typeParts.length > 0 ? typeParts.join(':') : null,
    count
  };
}

function splitOutsideParens(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      depth = Math.max(0, depth - 1);
    }
    if (ch === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  items.push(current);
  return items.map(s => s.trim()).filter(s => s !== '');
}
