/**
 * Keeps the layers of DESIGN.md: each folder of src/ imports only from the rows above it.
 * src/errors.ts and src/typed-events.ts import nothing and may be used by every layer.
 */
const layers = ['schema', 'format', 'state', 'blob', 'producer', 'consumer', 'observability', 'cli'];
const allowed = {
  schema: [],
  format: ['schema'],
  state: ['schema', 'format'],
  blob: ['format'],
  producer: ['schema', 'format', 'state', 'blob'],
  consumer: ['schema', 'format', 'state', 'blob'],
  observability: ['producer', 'consumer'],
  cli: [],
};

const forbidden = layers.map((layer) => {
  const others = layers.filter((l) => l !== layer && !allowed[layer].includes(l));
  return {
    name: `${layer}-imports-downward-only`,
    comment: `src/${layer} may import only from: ${allowed[layer].join(', ') || 'nothing'} (DESIGN.md, Layers)`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: `^src/(${others.join('|')})/` },
  };
});

forbidden.push(
  {
    name: 'root-loads-no-aws',
    comment: 'importing the package root must load no AWS or NATS code: S3 lives behind shoal/s3, NATS behind shoal/nats',
    severity: 'error',
    from: { path: '^src/index\\.ts$' },
    to: { path: '@aws-sdk|@nats-io|^src/blob/nats-|prom-client|^src/observability/|^src/blob/s3-blob-store\\.ts$|^src/blob/retry\\.ts$', reachable: true },
  },
  {
    name: 'shared-leaves-import-nothing',
    comment: 'src/errors.ts and src/typed-events.ts are shared by every layer and import nothing',
    severity: 'error',
    from: { path: '^src/(errors|typed-events)\\.ts$' },
    to: { path: '^src/' },
  },
  {
    name: 'no-circular',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
  {
    name: 'cli-uses-public-api',
    comment: 'the CLI uses the public API (src/index.ts and subpath entry points) only',
    severity: 'error',
    from: { path: '^src/cli/' },
    to: { path: '^src/(schema|format|state|blob|producer|consumer)/' },
  },
);

// Inside src/state, the same one-direction rule between its sub-folders (README, Source layout):
// each may import only from the folders before it, and no file sits directly in src/state.
const STATE_LAYERS = ['column', 'index', 'read', 'build', 'encoding'];
STATE_LAYERS.forEach((sub, i) => {
  const later = STATE_LAYERS.slice(i + 1);
  if (later.length === 0) return;
  forbidden.push({
    name: `state-${sub}-imports-downward-only`,
    comment: `src/state/${sub} may import only from src/state/{${STATE_LAYERS.slice(0, i + 1).join(',')}} (and the layers above state)`,
    severity: 'error',
    from: { path: `^src/state/${sub}/` },
    to: { path: `^src/state/(${later.join('|')})/` },
  });
});
forbidden.push({
  name: 'state-files-live-in-sub-folders',
  comment: `a file of src/state belongs in one of its sub-folders: ${STATE_LAYERS.join(', ')}`,
  severity: 'error',
  from: { path: '^src/state/[^/]+$' },
  to: {},
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
