/**
 * MDN's browser compatibility data (`@mdn/browser-compat-data`, one `data.json` a release):
 * browsers and their releases, features (a tree whose `__compat` nodes are features, named by
 * their dotted path) and each feature's support statement per browser. The composite keys are
 * a browser (a score of values) and a version string ("1", "2", … in every browser), and a
 * feature and a browser, so every key part repeats across records.
 *
 * The `subset` scope takes the features of a few small categories (html, http, mathml,
 * webassembly, webdriver) and every browser; `full` takes every feature.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { t } from '../../src/index.ts';
import type { RealDataset, Scope } from './dataset.ts';
import { RecordCollector } from './dataset.ts';

const Browser = t.object(
  'Browser',
  {
    id: t.string(),
    name: t.string(),
    type: t.string(),
    upstream: t.string().optional(),
    previewName: t.string().optional(),
    prefUrl: t.string().optional(),
    acceptsFlags: t.boolean(),
    acceptsWebextensions: t.boolean(),
  },
  { primaryKey: 'id' },
);

const BrowserRelease = t.object(
  'BrowserRelease',
  {
    browser: t.string(),
    version: t.string(),
    status: t.string(),
    releaseDate: t.string().optional(),
    releaseNotes: t.string().optional(),
    engine: t.string().optional(),
    engineVersion: t.string().optional(),
  },
  { primaryKey: ['browser', 'version'] },
);

const Feature = t.object(
  'Feature',
  {
    path: t.string(),
    category: t.string(),
    depth: t.int(),
    description: t.string().optional(),
    mdnUrl: t.string().optional(),
    specUrls: t.list(t.string()),
    sourceFile: t.string().optional(),
    tags: t.list(t.string()),
    experimental: t.boolean().optional(),
    standardTrack: t.boolean().optional(),
    deprecated: t.boolean().optional(),
  },
  { primaryKey: 'path' },
);

const Support = t.object(
  'Support',
  {
    feature: t.string(),
    browser: t.string(),
    /** The first statement's `version_added` when it is a version string. */
    versionAdded: t.string().optional(),
    versionRemoved: t.string().optional(),
    partial: t.boolean(),
    flagged: t.boolean(),
    statements: t.int(),
    /** The support statement as BCD has it: one object or a list of them. */
    statement: t.json(),
  },
  { primaryKey: ['feature', 'browser'] },
);

const schema = t.schema([Browser, BrowserRelease, Feature, Support]);

const SUBSET: ReadonlySet<string> = new Set(['html', 'http', 'mathml', 'webassembly', 'webdriver']);

type Obj = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function convert(dir: string, release: string, scope: Scope) {
  const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as Obj;
  const out = new RecordCollector(schema);
  for (const [id, b] of Object.entries(data.browsers as Record<string, Obj>)) {
    out.add('Browser', {
      id,
      name: b.name,
      type: b.type,
      upstream: str(b.upstream),
      previewName: str(b.preview_name),
      prefUrl: str(b.pref_url),
      acceptsFlags: b.accepts_flags === true,
      acceptsWebextensions: b.accepts_webextensions === true,
    });
    for (const [version, r] of Object.entries(b.releases as Record<string, Obj>)) {
      out.add('BrowserRelease', {
        browser: id,
        version,
        status: r.status,
        releaseDate: str(r.release_date),
        releaseNotes: str(r.release_notes),
        engine: str(r.engine),
        engineVersion: str(r.engine_version),
      });
    }
  }
  const walk = (node: Obj, path: string[]) => {
    for (const [name, child] of Object.entries(node)) {
      if (name === '__compat') feature(path, child as Obj);
      else if (child && typeof child === 'object') walk(child as Obj, [...path, name]);
    }
  };
  const feature = (path: string[], compat: Obj) => {
    const id = path.join('.');
    const status = compat.status as Record<string, boolean> | undefined;
    const spec = compat.spec_url;
    out.add('Feature', {
      path: id,
      category: path[0]!,
      depth: path.length,
      description: str(compat.description),
      mdnUrl: str(compat.mdn_url),
      specUrls: spec === undefined ? [] : [spec].flat(),
      sourceFile: str(compat.source_file),
      tags: (compat.tags as string[] | undefined) ?? [],
      experimental: status?.experimental,
      standardTrack: status?.standard_track,
      deprecated: status?.deprecated,
    });
    for (const [browser, statement] of Object.entries(compat.support as Obj)) {
      const list = [statement].flat() as Obj[];
      const first = list[0] ?? {};
      out.add('Support', {
        feature: id,
        browser,
        versionAdded: str(first.version_added),
        versionRemoved: str(first.version_removed),
        partial: first.partial_implementation === true,
        flagged: list.some((s) => s.flags !== undefined),
        statements: list.length,
        statement,
      });
    }
  };
  for (const [category, tree] of Object.entries(data)) {
    if (category === '__meta' || category === 'browsers') continue;
    if (scope === 'subset' && !SUBSET.has(category)) continue;
    walk(tree as Obj, [category]);
  }
  return out.result(release);
}

/** `@mdn/browser-compat-data`: about 200,000 records a release in full, 15,000 in the subset. */
export const browserCompatData: RealDataset = {
  name: 'browser-compat-data',
  packageName: '@mdn/browser-compat-data',
  schema,
  releases: [
    { version: '5.5.0', alias: 'bcd-5-5-0' },
    { version: '5.5.4', alias: 'bcd-5-5-4' },
    { version: '5.5.12', alias: 'bcd-5-5-12' },
  ],
  convert,
};
