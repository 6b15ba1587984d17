import { gresOf, initialValues, toRequestInput, validate } from '../formModel';
import { DEFAULTS, withClusterChoices } from '../settings';
import { clusterOf, cpuPartition, gpuPartition, trans } from './fixtures';

const cluster = clusterOf([
  cpuPartition(),
  gpuPartition({
    gpus: {
      total: 4,
      free: 4,
      types: [{ type: 'tesla', total: 4, free: 4, maxPerNode: 2 }]
    }
  })
]);

const presets = { 'site-python': { venv: '/opt/slurm-kernels/site-env' } };

describe('the request form model', () => {
  it('prefills from settings, fitted to the cluster', () => {
    const values = initialValues(
      {
        ...DEFAULTS,
        partition: 'gpu',
        gres: 'gpu:tesla:2',
        time: '2:00:00',
        cpus: 4
      },
      cluster,
      presets,
      'site-python'
    );
    expect(values).toMatchObject({
      partition: 'gpu',
      gresType: 'tesla',
      gresCount: '2',
      time: '2:00:00',
      cpus: '4',
      preset: 'site-python'
    });
    expect(gresOf(values)).toBe('gpu:tesla:2');
    expect(validate(values, cluster, presets)).toEqual({});
    expect(toRequestInput(values, presets)).toMatchObject({
      environment: { venv: '/opt/slurm-kernels/site-env' },
      cpus: 4
    });
  });

  it('puts each problem beside its field', () => {
    const values = initialValues(DEFAULTS, cluster, presets);
    expect(validate({ ...values, gresCount: '99' }, cluster, presets)).toEqual({
      gresCount: 'no node of gpu has 99 GPUs; at most 2 per node'
    });
    expect(validate({ ...values, time: '9:00:00' }, cluster, presets)).toEqual({
      time: 'partition gpu allows at most 08:00:00'
    });
    expect(
      validate({ ...values, time: 'soon' }, cluster, presets).time
    ).toMatch(/time looks like/);
    expect(validate({ ...values, cpus: 'four' }, cluster, presets).cpus).toBe(
      'a whole number of CPUs'
    );
    expect(
      validate({ ...values, memory: '16 GB' }, cluster, presets).memory
    ).toMatch(/memory looks like/);
    expect(
      validate({ ...values, account: 'a;b' }, cluster, presets).account
    ).toMatch(/account/);
  });

  it("refuses an account or QOS that Slurm's accounting does not give the user", () => {
    const accounted = { ...cluster, accounts: ['physics'], qos: ['normal'] };
    const values = initialValues(DEFAULTS, accounted, presets);
    expect(
      validate({ ...values, account: 'biology' }, accounted, presets)
    ).toEqual({
      account: 'you have no account "biology" on this cluster (yours: physics)'
    });
    expect(
      validate(
        { ...values, account: 'physics', qos: 'normal' },
        accounted,
        presets
      )
    ).toEqual({});
  });
});

describe('settings choices from the cluster', () => {
  it('offers the partitions and every GRES a node can give, keeping "none"', () => {
    const schema = {
      type: 'object',
      properties: { partition: { type: 'string' }, gres: { type: 'string' } }
    } as any;
    const result = withClusterChoices(schema, cluster, trans);
    expect(
      (result.properties!.partition.oneOf as any[]).map((o: any) => o.const)
    ).toEqual(['', 'cpu', 'gpu']);
    expect(
      (result.properties!.gres.oneOf as any[]).map((o: any) => o.const)
    ).toEqual(['', 'gpu:1', 'gpu:2', 'gpu:tesla:1', 'gpu:tesla:2']);
    expect(schema.properties.partition.oneOf).toBeUndefined(); // the registry's copy is untouched
    expect(withClusterChoices(schema, null, trans)).toEqual(schema);
  });
});
