export * from './runner';
export * from '../../../src/api/slurmTime';
export * from './gres';
export * from './cluster';
export * from './jobs';
export * from './reasons';
export * from './associations';
export * from './nodes';
