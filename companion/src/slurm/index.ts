export * from './runner';
export * from './time';
export * from './gres';
export * from './cluster';
export * from './jobs';
