// The installed wheel's end-to-end test, run only by dev/test-wheel.sh (it sets SLURM_KERNELS_CLI and
// the rest); kept out of the unit and integration projects, which run from the source checkout.
module.exports = {
  rootDir: '../..',
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testMatch: ['<rootDir>/test/wheel/**/*.test.ts'],
  testTimeout: 60000
};
