/**
 * shoal's public surface. Optional parts (S3, observability) are subpath exports so that
 * importing the package root loads neither AWS code nor an HTTP server.
 */

export {
  AnnouncementWatcher,
  type AnnouncementWatcherEvents,
  type AnnouncementWatcherOptions,
} from './blob/announcement-watcher.ts';
export { type Announcement, type Announcer, StoreAnnouncer } from './blob/announcer.ts';
export type { BlobInfo, BlobStore, CallOptions, PutOptions } from './blob/blob-store.ts';
export { type ChainPlan, planFromSnapshot, readVersionHeader } from './blob/chain-planner.ts';
export { FsBlobStore, type FsBlobStoreOptions } from './blob/fs-blob-store.ts';
export { findLabel, MAX_LABEL_WALK, resolveVersionRef } from './blob/label-resolver.ts';
export { MemoryBlobStore } from './blob/memory-blob-store.ts';
export {
  decodeVersionHeader,
  encodeVersionHeader,
  NamespaceLayout,
  type ParsedKey,
  padVersion,
  type VersionHeader,
} from './blob/namespace-layout.ts';
export { listNamespaces } from './blob/namespace-list.ts';
export { applyRetention, type RetentionOptions } from './blob/retention.ts';
export {
  TUNING_PROFILES,
  type TuningProfile,
  type TuningProfileName,
  tuningProfile,
} from './blob/tuning-profiles.ts';
export {
  checkVersionMetadata,
  LABEL_PREFIX,
  MAX_LABEL_LENGTH,
  MAX_METADATA_BYTES,
  MAX_METADATA_ENTRIES,
  type MetadataProblem,
  metadataProblem,
  parseVersionRef,
  type VersionMetadata,
  type VersionRef,
} from './blob/version-metadata.ts';
export { AttachedConsumer, attach, type ShareHandle } from './consumer/attached-consumer.ts';
export {
  type AnyConsumer,
  Consumer,
  type ConsumerEvents,
  type ConsumerOptions,
  type RefreshEvent,
  type WaitForFirstVersion,
} from './consumer/consumer.ts';
export { isShoalError, ShoalError, type ShoalErrorCode } from './errors.ts';
export { type AnyProducer, type CycleResult, Producer, type RunCycleOptions } from './producer/producer.ts';
export { type BlobRole, type ProducerEvents, STAGES, type StageName } from './producer/producer-events.ts';
export type { ProducerOptions, Validator } from './producer/producer-options.ts';
export type { CycleWriter } from './producer/stages/build-stage.ts';
export { validators } from './producer/validators.ts';
export type { LogDamage } from './producer/write-ahead-log.ts';
export {
  assertCompatible,
  createRecordValidator,
  type FieldJson,
  type FieldKind,
  type FieldSpec,
  FieldType,
  fromJSON,
  type IndexDeclaration,
  type IndexSpec,
  type Infer,
  type KeyOf,
  ObjectType,
  type RecordValidator,
  type ScalarKind,
  Schema,
  type SchemaIncompatibility,
  type SchemaJson,
  type SchemaKey,
  type SchemaRecord,
  schemaIncompatibilities,
  type TypeJson,
  type TypeName,
  t,
  toJSON,
} from './schema/index.ts';
export { type BuildOptions, StateBuilder, type StateBuilderOptions } from './state/build/state-builder.ts';
export {
  type ApplyDeltaOptions,
  applyDelta,
  type DeltaHeader,
  type EncodeDeltaOptions,
  encodeDelta,
  encodeReverseDelta,
  readDeltaHeader,
  verifyDelta,
} from './state/encoding/delta.ts';
export {
  type DecodeSnapshotOptions,
  decodeSnapshot,
  encodeSnapshot,
  readSnapshotHeader,
  type SnapshotHeader,
  type SnapshotLabel,
  verifyChecksum,
} from './state/encoding/snapshot.ts';
export { RecordIndex } from './state/read/record-index.ts';
export { type AnyState, State } from './state/read/state.ts';
export { diffStates, type TypeDiff } from './state/read/state-diff.ts';
export { type StateHandle, shareState, stateFromHandle } from './state/read/state-handle.ts';
export {
  type CreateIndexOptions,
  type FieldReader,
  type RecordView,
  TypeState,
  viewOrdinal,
} from './state/read/type-state.ts';
