/**
 * Reads the cluster's partitions, nodes and GRES from Slurm: one `sinfo` and one `scontrol` call.
 *
 * Fixed `-O`/`-o` formats with a `|` separator are used rather than `--json`, whose schema changes
 * between Slurm releases (22.05: openapi v0.0.38, no partition list) and is missing in older ones.
 */
import type {
  Cluster,
  ClusterNode,
  GpuType,
  Partition
} from '../../../src/api/cluster';
import { parseGresList } from './gres';
import type { AssociationsReader } from './associations';
import { ICommandRunner, runChecked } from './runner';
import { parseSlurmMinutes } from '../../../src/api/slurmTime';

export const SINFO_NODES_ARGV = [
  'sinfo',
  '--noheader',
  '--Node',
  '--Format=NodeList:|,Partition:|,StateLong:|,CPUsState:|,Memory:|,Gres:|,GresUsed:|'
] as const;

export const SCONTROL_PARTITIONS_ARGV = [
  'scontrol',
  '--oneliner',
  'show',
  'partition'
] as const;

/**
 * Queries Slurm and builds the cluster description.
 */
export async function readCluster(
  runner: ICommandRunner,
  associations?: AssociationsReader,
  now: Date = new Date()
): Promise<Cluster> {
  const [sinfoText, partitionText, assoc] = await Promise.all([
    runChecked(runner, SINFO_NODES_ARGV),
    runChecked(runner, SCONTROL_PARTITIONS_ARGV),
    associations?.read() ?? { accounts: [], qos: [] }
  ]);
  return { ...buildCluster(sinfoText, partitionText, now), ...assoc };
}

/**
 * Builds the cluster description from the text of the two Slurm commands (pure, for fixtures).
 */
export function buildCluster(
  sinfoText: string,
  partitionText: string,
  now: Date
): Cluster {
  const rows = parseSinfoNodes(sinfoText);
  const nodes = mergeNodeRows(rows);
  const partitions = parsePartitions(partitionText).map(p =>
    withGpus(p, nodes)
  );
  return {
    partitions,
    nodes,
    accounts: [],
    qos: [],
    fetchedAt: now.toISOString()
  };
}

interface ISinfoRow {
  node: ClusterNode;
  partition: string;
}

/**
 * Parses `sinfo -N -O ...:|` rows: one row per node and partition.
 */
export function parseSinfoNodes(text: string): ISinfoRow[] {
  return nonEmptyLines(text).map(line => {
    const [name, partition, state, cpuState, memory, gres, gresUsed] = line
      .split('|')
      .map(f => f.trim());
    const [allocated, idle, , total] = (cpuState ?? '').split('/').map(Number);
    return {
      // sinfo marks the default partition with '*'; scontrol says Default=YES.
      partition: (partition ?? '').replace(/\*$/, ''),
      node: {
        name,
        state: state ?? 'unknown',
        partitions: [],
        cpus: { allocated: allocated || 0, idle: idle || 0, total: total || 0 },
        memoryMb: /^\d+$/.test(memory ?? '') ? Number(memory) : null,
        gres: parseGresList(gres ?? ''),
        gresUsed: parseGresList(gresUsed ?? '')
      }
    };
  });
}

function mergeNodeRows(rows: ISinfoRow[]): ClusterNode[] {
  const byName = new Map<string, ClusterNode>();
  for (const { node, partition } of rows) {
    const known = byName.get(node.name) ?? node;
    known.partitions.push(partition);
    byName.set(node.name, known);
  }
  return [...byName.values()];
}

type PartitionWithoutGpus = Omit<Partition, 'gpus'>;

/**
 * Parses `scontrol -o show partition`: one line of Key=Value pairs per partition.
 */
export function parsePartitions(text: string): PartitionWithoutGpus[] {
  return nonEmptyLines(text).map(line => {
    const fields = parseKeyValues(line);
    return {
      name: fields.get('PartitionName') ?? '',
      isDefault: fields.get('Default') === 'YES',
      state: fields.get('State') ?? 'UNKNOWN',
      maxTimeMinutes:
        parseSlurmMinutes(fields.get('MaxTime') ?? 'UNLIMITED') ?? null,
      defaultTimeMinutes:
        parseSlurmMinutes(fields.get('DefaultTime') ?? 'NONE') ?? null,
      nodes: [],
      totalCpus: Number(fields.get('TotalCPUs') ?? 0) || 0
    };
  });
}

/**
 * Splits "Key=Value Key2=Value two" style lines. Values never contain " Key=" in scontrol's
 * one-liner output, but may contain spaces (e.g. a Reason), so split before each "Key=".
 */
export function parseKeyValues(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  const pattern = /(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=/g;
  const starts: Array<{ key: string; keyStart: number; valueStart: number }> =
    [];
  for (let m = pattern.exec(line); m; m = pattern.exec(line)) {
    starts.push({
      key: m[1],
      keyStart: m.index,
      valueStart: m.index + m[0].length
    });
  }
  starts.forEach((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].keyStart : line.length;
    fields.set(s.key, line.slice(s.valueStart, end).trim());
  });
  return fields;
}

function withGpus(
  partition: PartitionWithoutGpus,
  nodes: ClusterNode[]
): Partition {
  const members = nodes.filter(n => n.partitions.includes(partition.name));
  const types = new Map<string | null, GpuType>();
  for (const node of members) {
    const usable = isSchedulable(node.state);
    for (const g of node.gres.filter(g => g.name === 'gpu')) {
      const used = node.gresUsed
        .filter(u => u.name === 'gpu' && u.type === g.type)
        .reduce((sum, u) => sum + u.count, 0);
      const entry = types.get(g.type) ?? {
        type: g.type,
        total: 0,
        free: 0,
        maxPerNode: 0
      };
      entry.total += g.count;
      entry.free += usable ? Math.max(0, g.count - used) : 0;
      entry.maxPerNode = Math.max(entry.maxPerNode, g.count);
      types.set(g.type, entry);
    }
  }
  const list = [...types.values()];
  return {
    ...partition,
    nodes: members.map(n => n.name),
    gpus: {
      total: list.reduce((sum, t) => sum + t.total, 0),
      free: list.reduce((sum, t) => sum + t.free, 0),
      types: list
    }
  };
}

/** Nodes that are down, drained or failing give no free GPUs, whatever their GRES count says. */
function isSchedulable(state: string): boolean {
  return !/down|drain|fail|maint|reserved|inval|unknown|power/i.test(state);
}

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter(line => line.trim() !== '');
}
