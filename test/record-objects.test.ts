/**
 * `toObject()`: the plain object a view gives back, compiled once per record shape, and the
 * same object where the runtime forbids compiling code (a child process run with
 * --disallow-code-generation-from-strings).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNode, TSX } from './support/cli.ts';
import { decoded, objects, records } from './support/record-objects.ts';

describe('toObject', () => {
  it('gives the record written, fields in schema order, absent optional fields left out', () => {
    const state = decoded();
    for (const r of records) expect(state.type('Item').get(r.id)!.toObject()).toStrictEqual(r);
    expect(Object.keys(state.type('Item').get(2)!.toObject())).toEqual(['id', 'name', 'tags']);
    expect(Object.keys(state.type('Item').get(1)!.toObject())).toEqual([
      'id',
      'note',
      'name',
      'tags',
      'score',
      'flags',
    ]);
  });

  it('gives the same objects where compiling code is forbidden', async () => {
    const script = join(import.meta.dirname, 'support/record-objects-child.ts');
    const child = await runNode([
      '--disallow-code-generation-from-strings',
      '--conditions=shoal-source',
      '--import',
      TSX,
      script,
    ]);
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual(objects(decoded()));
  });
});
