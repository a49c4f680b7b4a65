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

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
