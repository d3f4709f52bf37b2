// `npm run lint` runs this (flat config, ESLint 9+). Formatting is prettier's job, not ESLint's.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'dist/**',
      'build*/**',
      'models/**',
      'node_modules/**',
      'prebuilds/**',
      '.compat-cache/**',
      '.gpu/**',
      'test/fixtures/generated/**',
    ],
  },
  // The TypeScript API (compiled by tsc to CommonJS in dist/).
  {
    files: ['src/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  // Tests (tap) and Node scripts: CommonJS.
  {
    files: ['test/**/*.js', 'scripts/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
);
