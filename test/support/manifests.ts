/**
 * The deployment examples under deploy/, read as the cluster and Compose would read them, with
 * the few fields the test looks at typed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseYamlDocuments } from './deploy.ts';

export const repo = join(import.meta.dirname, '../..');
export const kubernetesDir = join(repo, 'deploy/kubernetes');
export const composeDir = join(repo, 'deploy/compose');
/** The package's version, which the examples' image tags name. */
export const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string })
  .version;

export interface HttpProbe {
  readonly httpGet: { readonly path: string; readonly port: string | number };
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly args: readonly string[];
  readonly envFrom?: readonly {
    readonly configMapRef?: { readonly name: string };
    readonly secretRef?: { readonly name: string; readonly optional?: boolean };
  }[];
  readonly ports: readonly { readonly name: string; readonly containerPort: number }[];
  readonly startupProbe?: HttpProbe;
  readonly livenessProbe?: HttpProbe;
  readonly readinessProbe?: HttpProbe;
  readonly resources: {
    readonly requests: { readonly cpu?: string; readonly memory?: string };
    readonly limits?: { readonly cpu?: string; readonly memory?: string };
  };
  readonly securityContext?: { readonly readOnlyRootFilesystem?: boolean };
  readonly volumeMounts?: readonly {
    readonly name: string;
    readonly mountPath: string;
    readonly readOnly?: boolean;
  }[];
}

export interface PodSpec {
  readonly securityContext?: { readonly runAsUser?: number; readonly fsGroup?: number };
  readonly containers: readonly Container[];
  readonly volumes?: readonly {
    readonly name: string;
    readonly configMap?: { readonly name: string };
    readonly persistentVolumeClaim?: { readonly claimName: string };
  }[];
}

export interface K8sObject {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly data?: Readonly<Record<string, string>>;
  // biome-ignore lint/suspicious/noExplicitAny: each kind's spec is read where its kind is known.
  readonly spec?: any;
  readonly resources?: readonly string[];
  readonly images?: readonly { readonly name: string; readonly newTag: string }[];
}

/** Every document of every YAML file of deploy/kubernetes, in file order, with its file. */
export function kubernetesObjects(): K8sObject[] {
  return readdirSync(kubernetesDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseYamlDocuments(readFileSync(join(kubernetesDir, file), 'utf8')).map(
        (doc) => ({ ...(doc as object), file }) as K8sObject,
      ),
    );
}

export interface ComposeService {
  readonly build?: { readonly context: string };
  readonly image: string;
  readonly command: readonly string[];
  readonly volumes: readonly string[];
  readonly ports?: readonly string[];
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>;
  readonly healthcheck: { readonly test: readonly string[] };
}

export interface ComposeFile {
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes: Readonly<Record<string, unknown>>;
}

/** deploy/compose/compose.yaml, which must be one document. */
export function composeFile(): ComposeFile {
  const docs = parseYamlDocuments(readFileSync(join(composeDir, 'compose.yaml'), 'utf8'));
  if (docs.length !== 1) throw new Error(`compose.yaml has ${docs.length} documents, not 1`);
  return docs[0] as ComposeFile;
}

/** A short-syntax volume (`source:target[:ro]`). */
export function parseVolume(spec: string): { source: string; target: string; readOnly: boolean } {
  const [source = '', target = '', mode] = spec.split(':');
  return { source, target, readOnly: mode === 'ro' };
}
