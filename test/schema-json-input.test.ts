import { describe, expect, it } from 'vitest';
import { isShoalError, t } from '../src/index.ts';

const schemaText = (fieldName: string) =>
  JSON.stringify({
    format: 'shoal.schema/1',
    types: [
      {
        name: 'R',
        fields: [
          { name: 'id', kind: 'int' },
          { name: fieldName, kind: 'string' },
        ],
      },
    ],
  });

describe('t.fromJSON over a schema file', () => {
  it('refuses a field named "__proto__" rather than dropping it', () => {
    let error: unknown;
    try {
      t.fromJSON(schemaText('__proto__'));
    } catch (e) {
      error = e;
    }
    expect(isShoalError(error, 'INVALID_SCHEMA')).toBe(true);
    expect((error as Error).message).toBe(
      'R: "__proto__" cannot be a field name: record views use it. Rename the field.',
    );
  });

  it('skips a byte-order mark before the JSON', () => {
    const schema = t.fromJSON(`\ufeff${schemaText('name')}`);
    expect(schema.type('R').fields.map((f) => f.name)).toEqual(['id', 'name']);
  });
});
