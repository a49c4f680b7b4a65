/**
 * Upserts and deletes waiting for a cycle, by type and key: a later change of a key replaces
 * an earlier one, so a batch holds at most one change per key.
 */
import type { ObjectType, Schema } from '../schema/index.ts';
import { keyIdentity, keyOfRecord } from '../state/state-builder.ts';

type Change = { readonly record: Readonly<Record<string, unknown>> } | { readonly removed: unknown };

export class PendingChanges {
  private readonly schema: Schema;
  private byType = new Map<string, Map<unknown, Change>>();
  private count = 0;

  constructor(schema: Schema) {
    this.schema = schema;
  }

  get size(): number {
    return this.count;
  }

  private typeMap(type: ObjectType): Map<unknown, Change> {
    let m = this.byType.get(type.name);
    if (!m) {
      m = new Map();
      this.byType.set(type.name, m);
    }
    return m;
  }

  upsert(typeName: string, record: Readonly<Record<string, unknown>>): void {
    const type = this.schema.type(typeName);
    const m = this.typeMap(type);
    const id = type.primaryKey.length > 0 ? keyIdentity(type, keyOfRecord(type, record)) : Symbol('unkeyed');
    if (!m.has(id)) this.count++;
    m.set(id, { record });
  }

  remove(typeName: string, key: unknown): void {
    const type = this.schema.type(typeName);
    const m = this.typeMap(type);
    const id = keyIdentity(type, key);
    if (!m.has(id)) this.count++;
    m.set(id, { removed: key });
  }

  /** Takes every pending change, leaving none. */
  take(): PendingChanges {
    const out = new PendingChanges(this.schema);
    out.byType = this.byType;
    out.count = this.count;
    this.byType = new Map();
    this.count = 0;
    return out;
  }

  /** Puts back changes taken earlier (a failed cycle), under any that came since. */
  restore(older: PendingChanges): void {
    for (const [name, changes] of older.byType) {
      const m = this.typeMap(this.schema.type(name));
      for (const [id, change] of changes) {
        if (!m.has(id)) {
          m.set(id, change);
          this.count++;
        }
      }
    }
  }

  /** Applies the changes to a builder made with `StateBuilder.from`. */
  applyTo(builder: {
    upsert(type: string, record: unknown): unknown;
    remove(type: string, key: unknown): unknown;
  }): void {
    for (const [name, changes] of this.byType) {
      for (const change of changes.values()) {
        if ('record' in change) builder.upsert(name, change.record);
        else builder.remove(name, change.removed);
      }
    }
  }
}
