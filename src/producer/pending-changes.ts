/**
 * Upserts and deletes waiting for a cycle, by type and key: a later change of a key replaces
 * an earlier one, so a batch holds at most one change per key. A pending upsert is the record
 * itself, a pending delete a {@link Removal}: one Map entry and no wrapper per change.
 */
import type { ObjectType, Schema } from '../schema/index.ts';
import { keyIdentity, keyOfRecord } from '../state/state-builder.ts';

/** A pending delete of `key`. */
class Removal {
  constructor(readonly key: unknown) {}
}

type Change = Readonly<Record<string, unknown>> | Removal;

interface TypeChanges {
  readonly type: ObjectType;
  readonly keyed: boolean;
  readonly single: string | undefined;
  readonly changes: Map<unknown, Change>;
}

export class PendingChanges {
  private readonly schema: Schema;
  private byType = new Map<string, TypeChanges>();
  private count = 0;

  constructor(schema: Schema) {
    this.schema = schema;
  }

  get size(): number {
    return this.count;
  }

  private typeChanges(typeName: string): TypeChanges {
    let t = this.byType.get(typeName);
    if (!t) {
      const type = this.schema.type(typeName);
      const keyed = type.primaryKey.length > 0;
      const single = keyed && !type.compositeKey ? type.primaryKey[0] : undefined;
      t = { type, keyed, single, changes: new Map() };
      this.byType.set(typeName, t);
    }
    return t;
  }

  upsert(typeName: string, record: Readonly<Record<string, unknown>>): void {
    const t = this.typeChanges(typeName);
    const id =
      t.single !== undefined
        ? record[t.single]
        : t.keyed
          ? keyIdentity(t.type, keyOfRecord(t.type, record))
          : Symbol();
    const before = t.changes.size;
    t.changes.set(id, record);
    this.count += t.changes.size - before;
  }

  remove(typeName: string, key: unknown): void {
    const t = this.typeChanges(typeName);
    const before = t.changes.size;
    t.changes.set(keyIdentity(t.type, key), new Removal(key));
    this.count += t.changes.size - before;
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
    for (const [name, { changes }] of older.byType) {
      const mine = this.typeChanges(name).changes;
      for (const [id, change] of changes) {
        if (!mine.has(id)) {
          mine.set(id, change);
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
    for (const [name, { changes }] of this.byType) {
      for (const change of changes.values()) {
        if (change instanceof Removal) builder.remove(name, change.key);
        else builder.upsert(name, change);
      }
    }
  }
}
