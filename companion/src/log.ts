import pino from 'pino';

/**
 * The companion logs JSON lines to stderr, which Jupyter Server (through jupyter-server-proxy)
 * forwards to its own log. Job scripts and tokens are never logged.
 */
export function createLogger(
  level = process.env.SLURM_KERNELS_LOG_LEVEL ?? 'info'
) {
  return pino({ name: 'slurm-kernels', level }, pino.destination(2));
}
