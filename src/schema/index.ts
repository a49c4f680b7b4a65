/**
 * The schema DSL. `t` gathers the builders and helpers so a schema reads
 * `t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' })`.
 */
import { boolean, bytes, double, float, int, json, list, long, string } from './field-type.ts';
import { object } from './object-type.ts';
import { schema } from './schema.ts';
import { fromJSON, toJSON } from './schema-json.ts';

export { assertCompatible, type SchemaIncompatibility, schemaIncompatibilities } from './compatibility.ts';
export { type FieldKind, FieldType, type ScalarKind } from './field-type.ts';
export {
  describeField,
  type FieldMap,
  type FieldSpec,
  type IndexDeclaration,
  type IndexSpec,
  indexSpecs,
  ObjectType,
  type ObjectTypeOptions,
} from './object-type.ts';
export { createKeyCopier, createRecordCopier } from './record-copier.ts';
export {
  createKeyValidator,
  createRecordValidator,
  describeKey,
  jsonProblem,
  type RecordValidator,
} from './record-validator.ts';
export {
  type Infer,
  type InferFields,
  type KeyOf,
  Schema,
  type SchemaKey,
  type SchemaRecord,
  type TypeName,
  type TypeOf,
} from './schema.ts';
export {
  type FieldJson,
  fromJSON,
  SCHEMA_JSON_FORMAT,
  type SchemaJson,
  type TypeJson,
  toJSON,
} from './schema-json.ts';

/** The schema DSL: field kinds, `object`, `schema`, and the JSON form. */
export const t = {
  int,
  long,
  double,
  float,
  boolean,
  string,
  bytes,
  json,
  list,
  object,
  schema,
  toJSON,
  fromJSON,
};

/** Type helpers that go with {@link t}: `t.Infer<typeof Movie>`, `t.Key<typeof Movie>`. */
export declare namespace t {
  type Infer<T extends import('./object-type.ts').ObjectType> = import('./schema.ts').Infer<T>;
  type Key<T extends import('./object-type.ts').ObjectType> = import('./schema.ts').KeyOf<T>;
}
