import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The type-level tests (test/*.test-d.ts) are checked by `tsc` in `npm test` and
    // `npm run typecheck`, not here: vitest's typecheck mode warns on every run that it is
    // experimental.
    include: ['test/**/*.test.ts'],
    // A run that finds no tests must fail (vitest's default); keep it explicit.
    passWithNoTests: false,
    testTimeout: 60_000,
    // On Node 20 the AWS SDK warns, once per process, that its 2027 releases need Node 22; the
    // tests' own S3 clients need not say so (the shoal command sets this for itself).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
