/**
 * Unicode CLDR's supplemental data (the `cldr-core` package, one major release a half-year):
 * territories, the languages spoken in each, the currencies of each region, plural rules per
 * locale, likely subtags, script and territory data per language, and the metazone history of
 * each time zone. Several keys are composites of low-cardinality parts: a territory and a
 * language (a few hundred of each, repeating across each other), a locale, a kind (2 values)
 * and a plural category (6 values), a language and a variant (2 values).
 *
 * Numbers are strings in CLDR ("5168000000", "6.8"); they are parsed into `long`s and `double`s,
 * and a value that does not parse fails the conversion rather than being guessed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { t } from '../../src/index.ts';
import { decimal, type RealDataset, RecordCollector, type Row, whole } from './dataset.ts';

const Territory = t.object(
  'Territory',
  {
    code: t.string(),
    population: t.long(),
    gdp: t.long(),
    literacyPercent: t.double(),
    /** Language codes in CLDR's order. */
    languages: t.list(t.string()),
    /** Currency codes of the region, newest first (as CLDR lists them). */
    currencies: t.list(t.string()),
    firstDay: t.string().optional(),
    minDays: t.int().optional(),
    timeAllowed: t.list(t.string()),
    timePreferred: t.string().optional(),
  },
  { primaryKey: 'code' },
);

const TerritoryLanguage = t.object(
  'TerritoryLanguage',
  {
    territory: t.string(),
    language: t.string(),
    populationPercent: t.double(),
    officialStatus: t.string().optional(),
    writingPercent: t.double().optional(),
    literacyPercent: t.double().optional(),
  },
  { primaryKey: ['territory', 'language'] },
);

const RegionCurrency = t.object(
  'RegionCurrency',
  {
    region: t.string(),
    currency: t.string(),
    from: t.string().optional(),
    to: t.string().optional(),
    tender: t.boolean(),
  },
  { primaryKey: ['region', 'currency'] },
);

const CurrencyFraction = t.object(
  'CurrencyFraction',
  {
    currency: t.string(),
    digits: t.int(),
    rounding: t.int(),
    cashDigits: t.int().optional(),
    cashRounding: t.int().optional(),
  },
  { primaryKey: 'currency' },
);

const PluralRule = t.object(
  'PluralRule',
  {
    locale: t.string(),
    kind: t.string(),
    category: t.string(),
    rule: t.string(),
  },
  { primaryKey: ['locale', 'kind', 'category'] },
);

const LikelySubtag = t.object('LikelySubtag', { from: t.string(), to: t.string() }, { primaryKey: 'from' });

const Language = t.object(
  'Language',
  {
    language: t.string(),
    /** "primary", or CLDR's `-alt-` variant ("secondary"). */
    variant: t.string(),
    scripts: t.list(t.string()),
    territories: t.list(t.string()),
  },
  { primaryKey: ['language', 'variant'] },
);

const TimeZone = t.object(
  'TimeZone',
  {
    id: t.string(),
    /** The metazone in use now (the period without an end), if any. */
    metazone: t.string().optional(),
    /** CLDR's `usesMetazone` periods as they are: `{ _mzone, _from?, _to? }` objects. */
    periods: t.json(),
  },
  { primaryKey: 'id' },
);

const schema = t.schema([
  Territory,
  TerritoryLanguage,
  RegionCurrency,
  CurrencyFraction,
  PluralRule,
  LikelySubtag,
  Language,
  TimeZone,
]);

type Obj = Record<string, unknown>;
const entries = (o: unknown) => Object.entries((o ?? {}) as Obj) as [string, Obj][];
const optionalDecimal = (v: unknown, what: string) => (v === undefined ? undefined : decimal(v, what));
const optionalWhole = (v: unknown, what: string) => (v === undefined ? undefined : whole(v, what));

function supplemental(dir: string, file: string): Obj {
  const doc = JSON.parse(readFileSync(join(dir, 'supplemental', file), 'utf8')) as { supplemental: Obj };
  return doc.supplemental;
}

/** `America/Argentina/Buenos_Aires` and the like: the tree's leaves are the period lists. */
function timeZones(node: Obj, prefix: string, out: [string, Obj[]][]): [string, Obj[]][] {
  for (const [name, child] of Object.entries(node)) {
    const id = prefix ? `${prefix}/${name}` : name;
    if (Array.isArray(child)) out.push([id, child as Obj[]]);
    else timeZones(child as Obj, id, out);
  }
  return out;
}

function convert(dir: string, release: string) {
  const out = new RecordCollector(schema);
  const territoryInfo = supplemental(dir, 'territoryInfo.json').territoryInfo as Obj;
  const currencyData = supplemental(dir, 'currencyData.json').currencyData as Obj;
  const regions = currencyData.region as Record<string, Obj[]>;
  const week = supplemental(dir, 'weekData.json').weekData as Record<string, Record<string, string>>;
  const time = supplemental(dir, 'timeData.json').timeData as Record<string, Record<string, string>>;

  for (const [code, info] of entries(territoryInfo)) {
    const languages = entries(info.languagePopulation);
    const timeData = time[code];
    out.add('Territory', {
      code,
      population: whole(info._population, `${code} population`),
      gdp: whole(info._gdp, `${code} gdp`),
      literacyPercent: decimal(info._literacyPercent, `${code} literacy`),
      languages: languages.map(([language]) => language),
      currencies: (regions[code] ?? []).flatMap((e) => Object.keys(e)),
      firstDay: week.firstDay?.[code],
      minDays: optionalWhole(week.minDays?.[code], `${code} minDays`),
      timeAllowed: timeData?._allowed?.split(' ').filter((s) => s !== '') ?? [],
      timePreferred: timeData?._preferred,
    });
    for (const [language, p] of languages) {
      const where = `${code}/${language}`;
      out.add('TerritoryLanguage', {
        territory: code,
        language,
        populationPercent: decimal(p._populationPercent, `${where} populationPercent`),
        officialStatus: p._officialStatus as string | undefined,
        writingPercent: optionalDecimal(p._writingPercent, `${where} writingPercent`),
        literacyPercent: optionalDecimal(p._literacyPercent, `${where} literacyPercent`),
      });
    }
  }

  for (const [region, list] of Object.entries(regions)) {
    for (const entry of list) {
      for (const [currency, period] of entries(entry)) {
        out.add('RegionCurrency', {
          region,
          currency,
          from: period._from as string | undefined,
          to: period._to as string | undefined,
          tender: period._tender !== 'false',
        });
      }
    }
  }

  for (const [currency, f] of entries(currencyData.fractions)) {
    out.add('CurrencyFraction', {
      currency,
      digits: whole(f._digits, `${currency} digits`),
      rounding: whole(f._rounding, `${currency} rounding`),
      cashDigits: optionalWhole(f._cashDigits, `${currency} cashDigits`),
      cashRounding: optionalWhole(f._cashRounding, `${currency} cashRounding`),
    });
  }

  const plurals: [string, string, string][] = [
    ['cardinal', 'plurals.json', 'plurals-type-cardinal'],
    ['ordinal', 'ordinals.json', 'plurals-type-ordinal'],
  ];
  for (const [kind, file, key] of plurals) {
    for (const [locale, rules] of entries(supplemental(dir, file)[key])) {
      for (const [name, rule] of Object.entries(rules)) {
        out.add('PluralRule', {
          locale,
          kind,
          category: name.replace('pluralRule-count-', ''),
          rule: rule as string,
        });
      }
    }
  }

  for (const [from, to] of Object.entries(supplemental(dir, 'likelySubtags.json').likelySubtags as Obj)) {
    out.add('LikelySubtag', { from, to });
  }

  for (const [code, data] of entries(supplemental(dir, 'languageData.json').languageData)) {
    const [language, variant = 'primary'] = code.split('-alt-') as [string, string?];
    out.add('Language', {
      language,
      variant,
      scripts: (data._scripts as string[] | undefined) ?? [],
      territories: (data._territories as string[] | undefined) ?? [],
    });
  }

  const metaZones = supplemental(dir, 'metaZones.json').metaZones as Obj;
  const zones = timeZones((metaZones.metazoneInfo as Obj).timezone as Obj, '', []);
  for (const [id, uses] of zones) {
    const periods = uses.map((u) => u.usesMetazone as Row);
    out.add('TimeZone', {
      id,
      metazone: periods.find((p) => p._to === undefined)?._mzone as string | undefined,
      periods,
    });
  }
  return out.result(release);
}

/** `cldr-core`: a few thousand records a release, all of them in both scopes. */
export const cldrCore: RealDataset = {
  name: 'cldr-core',
  packageName: 'cldr-core',
  schema,
  releases: [
    { version: '44.0.0', alias: 'cldr-core-44' },
    { version: '45.0.0', alias: 'cldr-core-45' },
    { version: '46.0.0', alias: 'cldr-core-46' },
    { version: '47.0.0', alias: 'cldr-core-47' },
  ],
  convert: (dir, release) => convert(dir, release),
};
