// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** What the architecture forbids, as import rules: each entry names who may import it. */
const boundaries = {
  sdk: [
    { name: 'stripe', message: 'Only src/payments/stripe/ may use the Stripe SDK.' },
    { name: '@paypal/checkout-server-sdk', message: 'Only src/payments/paypal/ may use the PayPal SDK.' },
  ],
  simulator: {
    group: ['**/simulator/**', '!**/payments/**'],
    message:
      'The simulator is reached only through the composition root (src/runtime.ts, src/payments/index.ts).',
  },
  embedded: { group: ['**/embedded-mongo/**'], message: 'Only src/db/ may use the embedded store.' },
  models: {
    group: ['**/supporters/models*', '**/webhooks/models*', '**/consent/models*', '**/staff/models*'],
    message: "A feature's mongoose models stay behind its repository.",
    allowTypeImports: true,
  },
};

/** SDKs are package names (`paths`); our own folders are path patterns. */
const restrict = (...rules) => {
  const flat = rules.flat();
  return ['error', { paths: flat.filter((r) => 'name' in r), patterns: flat.filter((r) => 'group' in r) }];
};

export default tseslint.config(
  {
    ignores: ['node_modules/', 'data/', 'dist/', 'coverage/', 'views/static/', 'tests/browser/screenshots/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Type-checked rules: a promise is awaited or handled, and casts say something the types do not.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/db/**', 'src/embedded-mongo/**', 'src/payments/**', 'src/runtime.ts', 'src/simulator/**'],
    rules: {
      'no-restricted-imports': restrict(
        boundaries.sdk,
        boundaries.simulator,
        boundaries.embedded,
        boundaries.models,
      ),
    },
  },
  {
    files: ['src/payments/**/*.ts'],
    ignores: ['src/payments/stripe/**', 'src/payments/paypal/**', 'src/payments/index.ts'],
    rules: { 'no-restricted-imports': restrict(boundaries.sdk, boundaries.simulator, boundaries.embedded) },
  },
  {
    files: ['src/payments/stripe/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(boundaries.sdk[1], boundaries.simulator, boundaries.embedded),
    },
  },
  {
    files: ['src/payments/paypal/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict(boundaries.sdk[0], boundaries.simulator, boundaries.embedded),
    },
  },
  {
    files: ['src/runtime.ts', 'src/payments/index.ts', 'src/simulator/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(boundaries.embedded) },
  },
  {
    // Tests and benchmarks may read any collection and start any part; they still never use an SDK
    // for our own code paths, but the official SDKs talk to the simulator from tests.
    files: ['tests/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
