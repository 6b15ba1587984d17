// Unit tests fake the shell at the command boundary; integration tests run against the real testbed
// (dev/testbed/up.sh) as an ordinary user.
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] }
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts']
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts']
    }
  ],
  // Integration tests wait on a real scheduler (its tick is ~1 s).
  testTimeout: 60000
};
