/**
 * The Kubernetes deployment example (deploy/kubernetes): parsed by a real YAML parser, its
 * objects cross-checked with each other and with what the CLI serves, and its containers' args
 * run here as `shoal` child processes, against an S3-compatible server, whose probe answers are
 * asserted. test/deploy-compose.test.ts does the same for deploy/compose and the Dockerfile.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configMapVolume,
  expandVars,
  flagValue,
  get,
  HOST_FLAGS,
  localArgs,
  PORT_FLAGS,
  runShoal,
} from './support/deploy.ts';
import {
  type Container,
  type K8sObject,
  kubernetesDir,
  kubernetesObjects,
  type PodSpec,
  repo,
  version,
} from './support/manifests.ts';
import { BUCKET, type S3Server, startS3 } from './support/s3-server.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-deploy-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const CURRENT_APIS: Record<string, string> = {
  Deployment: 'apps/v1',
  Service: 'v1',
  ConfigMap: 'v1',
  PersistentVolumeClaim: 'v1',
  PodDisruptionBudget: 'policy/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  Kustomization: 'kustomize.config.k8s.io/v1beta1',
};

const objects = kubernetesObjects();
const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
const pod = (deployment: string): PodSpec => named('Deployment', deployment).spec.template.spec;
const container = (deployment: string): Container => pod(deployment).containers[0]!;
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The memory a Deployment's sizing annotations give (the formula its comment states). */
const sizedMemory = (o: K8sObject) => {
  const a = (k: string) => Number(o.metadata.annotations?.[`shoal/${k}`]);
  const mib =
    (a('base-mib') + (a('records') * a('bytes-per-record') * a('copies')) / 2 ** 20) * a('headroom');
  return `${Math.ceil(mib / 64) * 64}Mi`;
};

describe('deploy/kubernetes', () => {
  it('parses, every object is of a current API, and the kustomization lists every file', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name ?? ''}`).sort()).toEqual(
      [
        'ConfigMap/shoal-input',
        'ConfigMap/shoal-schema',
        'ConfigMap/shoal-store',
        'Deployment/shoal-consumer',
        'Deployment/shoal-producer',
        'HorizontalPodAutoscaler/shoal-consumer',
        'Kustomization/',
        'PersistentVolumeClaim/shoal-producer-wal',
        'PodDisruptionBudget/shoal-consumer',
        'PodDisruptionBudget/shoal-producer',
        'Service/shoal-consumer',
        'Service/shoal-producer',
      ].sort(),
    );
    for (const o of objects) expect(o.apiVersion, `${o.kind} in ${o.file}`).toBe(CURRENT_APIS[o.kind]);
    const kustomization = ofKind('Kustomization')[0]!;
    const files = readdirSync(kubernetesDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources!].sort()).toEqual(files.sort());
    expect(kustomization.images).toEqual([{ name: 'shoal', newTag: version }]);
    for (const d of ofKind('Deployment')) expect(container(d.metadata.name).image).toBe('shoal');
  });

  it('wires selectors, volumes, config and the autoscaler to objects that exist', () => {
    const podLabels = ofKind('Deployment').map((d) => {
      expect(selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels), d.metadata.name).toBe(
        true,
      );
      return d.spec.template.metadata.labels as Record<string, string>;
    });
    for (const o of [...ofKind('Service'), ...ofKind('PodDisruptionBudget')]) {
      const selector = o.spec.selector.matchLabels ?? o.spec.selector;
      expect(
        podLabels.filter((l) => selects(selector, l)),
        `${o.kind} ${o.metadata.name}`,
      ).toHaveLength(1);
    }
    for (const hpa of ofKind('HorizontalPodAutoscaler')) {
      expect(hpa.spec.scaleTargetRef).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
      named('Deployment', hpa.spec.scaleTargetRef.name);
    }
    for (const d of ofKind('Deployment')) {
      const spec = pod(d.metadata.name);
      for (const v of spec.volumes ?? []) {
        if (v.configMap) named('ConfigMap', v.configMap.name);
        if (v.persistentVolumeClaim) named('PersistentVolumeClaim', v.persistentVolumeClaim.claimName);
      }
      for (const c of spec.containers) {
        for (const m of c.volumeMounts ?? []) expect(spec.volumes?.map((v) => v.name)).toContain(m.name);
        for (const e of c.envFrom ?? []) {
          if (e.configMapRef) named('ConfigMap', e.configMapRef.name);
          // No Secret ships (credentials come from the pod's role, or one you create).
          if (e.secretRef) expect(e.secretRef.optional).toBe(true);
        }
      }
    }
  });

  it('runs the producer as the one writer: one replica, Recreate, never evicted, its log on the claim', () => {
    const d = named('Deployment', 'shoal-producer');
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    expect(named('PodDisruptionBudget', 'shoal-producer').spec.maxUnavailable).toBe(0);
    const c = container('shoal-producer');
    expect(c.args.slice(0, 1)).toEqual(['produce']);
    expect(c.args).toContain('--watch');
    expect(flagValue(c.args, '--store')).toBe('$(SHOAL_STORE)');
    expect(named('ConfigMap', 'shoal-store').data!.SHOAL_STORE).toMatch(/^s3:\/\/[a-z0-9.-]+\/.+/);
    // The root filesystem is read-only, so the log must be on the claim, written as uid 1000.
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    const walMount = c.volumeMounts!.find((m) => flagValue(c.args, '--wal-dir')!.startsWith(m.mountPath))!;
    expect(walMount.readOnly).toBeUndefined();
    const walVolume = pod('shoal-producer').volumes!.find((v) => v.name === walMount.name)!;
    expect(walVolume.persistentVolumeClaim?.claimName).toBe('shoal-producer-wal');
    expect(pod('shoal-producer').securityContext).toMatchObject({ runAsUser: 1000, fsGroup: 1000 });
  });

  it('probes /healthz and /readyz on the port the command serves, bound to all interfaces', () => {
    for (const d of ofKind('Deployment')) {
      const c = container(d.metadata.name);
      const portFlag = PORT_FLAGS.find((f) => c.args.includes(f))!;
      const hostFlag = HOST_FLAGS[PORT_FLAGS.indexOf(portFlag)]!;
      expect(flagValue(c.args, hostFlag), `${d.metadata.name} ${hostFlag}`).toBe('0.0.0.0');
      const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' };
      for (const [probe, path] of Object.entries(probes)) {
        const p = c[probe as keyof typeof probes]!;
        expect(p.httpGet.path, `${d.metadata.name} ${probe}`).toBe(path);
        const port = c.ports.find((x) => x.name === p.httpGet.port || x.containerPort === p.httpGet.port);
        expect(String(port?.containerPort), `${d.metadata.name} ${probe}`).toBe(flagValue(c.args, portFlag));
      }
    }
    for (const s of ofKind('Service')) {
      const c = container(s.metadata.name);
      for (const p of s.spec.ports) expect(c.ports.map((x) => x.name)).toContain(p.targetPort);
    }
  });

  it('sizes memory from the annotations it states, and gives the autoscaler requests to scale on', () => {
    expect(sizedMemory(named('Deployment', 'shoal-consumer'))).toBe('256Mi');
    for (const d of ofKind('Deployment')) {
      const { resources } = container(d.metadata.name);
      expect(resources.requests.memory, d.metadata.name).toBe(sizedMemory(d));
      expect(resources.limits?.memory, d.metadata.name).toBe(sizedMemory(d));
      expect(resources.requests.cpu, d.metadata.name).toMatch(/^\d+m$/);
      expect(resources.limits?.cpu, d.metadata.name).toBeUndefined();
    }
    const hpa = named('HorizontalPodAutoscaler', 'shoal-consumer');
    expect(
      hpa.spec.metrics.map((m: { resource: { name: string; target: { type: string } } }) => [
        m.resource.name,
        m.resource.target.type,
      ]),
    ).toEqual([
      ['cpu', 'Utilization'],
      ['memory', 'Utilization'],
    ]);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    // The autoscaler owns the count; a `replicas` in the Deployment would reset it on each apply.
    expect(named('Deployment', 'shoal-consumer').spec.replicas).toBeUndefined();
  });

  it('carries the examples’ schema and input in its ConfigMaps', () => {
    const example = (f: string) => readFileSync(join(repo, 'examples', f), 'utf8');
    expect(JSON.parse(named('ConfigMap', 'shoal-schema').data!['movies.schema.json']!)).toEqual(
      JSON.parse(example('movies.schema.json')),
    );
    expect(named('ConfigMap', 'shoal-input').data!['movies.ndjson']).toBe(example('movies.ndjson'));
  });

  it.runIf(spawnSync('kubectl', ['version', '--client']).status === 0)(
    'builds with kubectl kustomize, the image set to this version',
    () => {
      const r = spawnSync('kubectl', ['kustomize', kubernetesDir], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.match(/^\s+image: .*$/gm)?.map((l) => l.trim())).toEqual([
        `image: shoal:${version}`,
        `image: shoal:${version}`,
      ]);
    },
  );

  describe('its containers, run here against a real S3-compatible server', () => {
    let s3: S3Server;
    beforeAll(async () => {
      s3 = await startS3();
    });
    afterAll(async () => s3?.close());

    /** The container's environment as the kubelet gives it, the store moved to the test server. */
    const envOf = (c: Container, prefix: string): Record<string, string> => {
      const env: Record<string, string> = {};
      for (const e of c.envFrom ?? [])
        if (e.configMapRef) Object.assign(env, named('ConfigMap', e.configMapRef.name).data);
      return {
        ...env,
        SHOAL_STORE: `s3://${BUCKET}/${prefix}`,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        // What the optional Secret would hold; s3rver takes its own pair.
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      };
    };

    /**
     * Each mount of the container moved to a temp directory, ConfigMaps laid out as the kubelet
     * does; with a handle on each ConfigMap's volume, by ConfigMap name.
     */
    const mountsOf = async (deployment: string) => {
      const spec = pod(deployment);
      const moves: Record<string, string> = {};
      const configMaps: Record<string, Awaited<ReturnType<typeof configMapVolume>>> = {};
      for (const m of spec.containers[0]!.volumeMounts ?? []) {
        moves[m.mountPath] = await tempDir();
        const source = spec.volumes!.find((v) => v.name === m.name)!.configMap;
        if (source) {
          configMaps[source.name] = await configMapVolume(
            moves[m.mountPath]!,
            named('ConfigMap', source.name).data!,
          );
        }
      }
      return { moves, configMaps };
    };

    it('publishes the input and answers its probes; the consumer waits for a version, then serves it', async () => {
      const prefix = `deploy${Math.random().toString(36).slice(2)}`;
      const consumerSpec = container('shoal-consumer');
      const consumerArgs = (env: Record<string, string>) =>
        localArgs(
          consumerSpec.args.map((a) => expandVars(a, env)),
          {},
          PORT_FLAGS,
          HOST_FLAGS,
        );
      const consumerEnv = envOf(consumerSpec, prefix);

      // Started before the producer's first version, the consumer waits: alive, not ready.
      const consumer = runShoal(consumerArgs(consumerEnv), consumerEnv);
      const [waiting] = await consumer.waitFor('stdout', /\{"event":"waiting".*\}\n/);
      const waitingUrl = (JSON.parse(waiting!) as { url: string }).url;
      expect((await get(`${waitingUrl}${consumerSpec.livenessProbe!.httpGet.path}`)).status).toBe(200);
      expect((await get(`${waitingUrl}${consumerSpec.readinessProbe!.httpGet.path}`)).status).toBe(503);

      const producerSpec = container('shoal-producer');
      const producerEnv = envOf(producerSpec, prefix);
      const { moves, configMaps } = await mountsOf('shoal-producer');
      const producer = runShoal(
        localArgs(
          producerSpec.args.map((a) => expandVars(a, producerEnv)),
          moves,
          PORT_FLAGS,
          HOST_FLAGS,
        ),
        producerEnv,
      );
      const [, producerUrl] = await producer.waitFor('stderr', /health on (\S+)\n/);
      const [published] = await producer.waitFor('stdout', /\{"event":"published".*\}\n/);
      expect(JSON.parse(published!)).toMatchObject({ snapshot: true, counts: { Movie: 3 } });
      const probePath = (c: Container, probe: 'livenessProbe' | 'readinessProbe' | 'startupProbe') =>
        c[probe]!.httpGet.path;
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        expect(await get(`${producerUrl}${probePath(producerSpec, probe)}`), probe).toMatchObject({
          status: 200,
        });
      }
      // A probe path the server does not serve would fail every probe: the check above means something.
      expect((await get(`${producerUrl}/ready`)).status).toBe(404);

      // It polls S3 with backoff (1 s doubling, at most 30 s), so it sees the version within 30 s.
      const [line] = await consumer.waitFor('stdout', /\{"event":"serving".*\}\n/, 45_000);
      const { url, version: served } = JSON.parse(line!) as { url: string; version: number };
      expect(served).toBe(JSON.parse(published!).version);
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        expect(await get(`${url}${probePath(consumerSpec, probe)}`), probe).toEqual({
          status: 200,
          text: probe === 'readinessProbe' ? 'ready\n' : 'ok\n',
        });
      }
      expect(await get(`${url}/records/Movie/2`)).toEqual({
        status: 200,
        text: '{"id":2,"title":"Shoals","year":1968,"tags":["documentary","sea"]}\n',
      });

      // `kubectl edit configmap shoal-input`: the kubelet swaps the files, --watch publishes the
      // change, and the consumer follows it.
      const input = named('ConfigMap', 'shoal-input').data!['movies.ndjson']!;
      await configMaps['shoal-input']!.update({
        'movies.ndjson': input.replace('"Shoals"', '"Shoals, restored"'),
      });
      // A second "published" line (the group is the last one).
      const [, again] = await producer.waitFor(
        'stdout',
        /"event":"published"[\s\S]*(\{"event":"published".*\})\n/,
      );
      expect(JSON.parse(again!)).toMatchObject({ snapshot: false, counts: { Movie: 3 } });
      await consumer.waitFor('stdout', /"event":"refresh"/);
      expect((await get(`${url}/records/Movie/2`)).text).toBe(
        '{"id":2,"title":"Shoals, restored","year":1968,"tags":["documentary","sea"]}\n',
      );
      // SIGTERM, as the kubelet stops a pod: both finish and exit 0.
      expect(await consumer.stop()).toBe(0);
      expect(await producer.stop()).toBe(0);
    });
  });
});
