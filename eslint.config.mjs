import js from '@eslint/js';
import jupyter from '@jupyter/eslint-plugin';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const typescriptRules = {
  '@typescript-eslint/naming-convention': [
    'error',
    {
      selector: 'interface',
      format: ['PascalCase'],
      custom: { regex: '^I[A-Z]', match: true }
    }
  ],
  '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
  '@typescript-eslint/no-explicit-any': 'off',
  '@typescript-eslint/no-namespace': 'off',
  '@typescript-eslint/no-use-before-define': 'off',
  quotes: [
    'error',
    'single',
    { avoidEscape: true, allowTemplateLiterals: false }
  ],
  curly: ['error', 'all'],
  eqeqeq: 'error',
  'prefer-arrow-callback': 'error'
};

export default tseslint.config(
  {
    ignores: [
      '**/node_modules',
      '**/dist',
      '**/lib',
      'coverage',
      '**/*.js',
      '**/*.d.ts',
      'jupyterlab_slurm_kernels',
      'ui-tests/test-results',
      'ui-tests/playwright-report'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // The JupyterLab extension: browser code, JupyterLab's own conventions.
  { plugins: { jupyter } },
  ...jupyter.configs.recommended.map(config => ({
    ...config,
    files: config.files?.map(pattern =>
      pattern.startsWith('**/schema') ? 'schema/*.json' : `src/${pattern}`
    )
  })),
  {
    files: ['src/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
    rules: typescriptRules
  },
  {
    files: ['src/__tests__/**/*.{ts,tsx}', 'ui-tests/**/*.ts'],
    rules: { 'jupyter/no-untranslated-string': 'off' }
  },
  {
    // The companion: a Node service.
    files: ['companion/**/*.ts'],
    languageOptions: { globals: globals.node },
    rules: typescriptRules
  },
  prettierRecommended
);
