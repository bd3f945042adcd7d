import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build/',
      'coverage/',
      'src/generated/',
      'node_modules/',
      '.data/',
      'bench/results/',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // The vault app uses the library as users do: by package name, so it proves the public surface.
    files: [
      'src/*.ts',
      'src/admin/**/*.ts',
      'src/vault/**/*.ts',
      'src/database/**/*.ts',
      'src/utils/**/*.ts',
      'db/**/*.ts',
      'docs/examples/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.{1,2}/)+(src/)?integration(/|$)',
              message:
                "Import the library by its package name: 'nestjs-integration' or 'nestjs-integration/testing'.",
            },
          ],
        },
      ],
    },
  },
  {
    // The library is packed alone: it cannot import itself by name (nor anything outside
    // src/integration, which its own tsconfig's rootDir refuses at `npm run pack:module`).
    files: ['src/integration/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^nestjs-integration(/|$)',
              message: 'Inside the library, import its files by relative path.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['db/migrate.ts', 'bench/**/*.ts', 'test/**/*.ts', 'scripts/**/*.js'],
    rules: { 'no-console': 'off' },
  },
  {
    // The admin dashboard's script runs in the browser, as a classic script.
    files: ['src/integration/admin/http/dashboard/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        window: 'readonly',
        location: 'readonly',
        history: 'readonly',
        sessionStorage: 'readonly',
        fetch: 'readonly',
        FormData: 'readonly',
        URLSearchParams: 'readonly',
        Node: 'readonly',
      },
    },
  },
  {
    files: ['**/*.js'],
    ignores: ['src/integration/admin/http/dashboard/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
