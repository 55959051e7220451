import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directCheckpointImage } from '../../adapters/agent-client/port.ts';
import { CHECKPOINT_ANNOTATION } from '../../adapters/oci/port.ts';
import { checkpointTag, createImageLoader, type LoadedImage, type LoadRequest } from '../../agent/loader.ts';
import { type AgentPair, rawPut, startAgentPair, tarOf } from '../harness/agent.ts';

// Real skopeo into a private containers-storage (vfs driver, root only): what CRI-O would run the pod from.
const canRun =
  spawnSync('skopeo', ['--version']).status === 0 && process.getuid?.() === 0 && process.platform === 'linux';

describe.skipIf(!canRun)(
  'image loader into containers-storage (real skopeo, private vfs store; skipped only without skopeo or root, which scripts/setup.sh installs and CI has)',
  () => {
    let root: string;
    let spec: string;
    const inspect = (image: string) => {
      const r = spawnSync('skopeo', ['inspect', '--raw', `containers-storage:${spec}${image}`], { encoding: 'utf8' });
      return r.status === 0
        ? (JSON.parse(r.stdout) as { layers: { digest: string }[]; annotations: Record<string, string> })
        : null;
    };
    async function archive(seed: string): Promise<LoadRequest> {
      const body = await tarOf([
        { name: 'config.dump', body: seed },
        { name: 'pages.img', body: seed.repeat(5000) },
      ]);
      const sha256 = createHash('sha256').update(body).digest('hex');
      const archivePath = join(root, 'store', 'archives', `${sha256}.tar`);
      writeFileSync(archivePath, body);
      return { archivePath, container: 'app', sha256, bytes: body.length };
    }

    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'ms2m-loader-'));
      spec = `[vfs@${join(root, 'graph')}+${join(root, 'run')}]`;
      for (const d of ['archives', 'tmp', 'images']) mkdirSync(join(root, 'store', d), { recursive: true });
    });
    afterAll(() => {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('loads A then B for one container as two images, each holding its own archive; unloads one', async () => {
      const loader = createImageLoader({ storeDir: join(root, 'store'), containersStorage: true, storageSpec: spec });
      const a = await archive('A');
      const b = await archive('B');
      const ia = await loader.load(a);
      const ib = await loader.load(b);
      expect(ia).toMatchObject({ image: directCheckpointImage('app', a.sha256), via: 'containers-storage' });
      expect(ib.image).toBe(directCheckpointImage('app', b.sha256));
      expect(inspect(ia.image)?.layers.map((l) => l.digest)).toEqual([`sha256:${a.sha256}`]);
      expect(inspect(ib.image)?.layers.map((l) => l.digest)).toEqual([`sha256:${b.sha256}`]);
      expect(inspect(ia.image)?.annotations[CHECKPOINT_ANNOTATION]).toBe('app');
      expect(await loader.verify(a, ia)).toBeNull();
      expect(await loader.verify(b, ib)).toBeNull();
      // the layout's layer is the archive itself (hard link), not a copy
      expect(statSync(join(ia.layoutDir, 'blobs', 'sha256', a.sha256)).ino).toBe(statSync(a.archivePath).ino);
      await loader.unload(ia);
      expect(inspect(ia.image)).toBeNull();
      expect(await loader.verify(a, ia)).toMatch(/not in containers-storage/);
      expect(await loader.verify(b, ib)).toBeNull();
      await loader.unload(ia); // missing is fine
    });

    it('an image overwritten in the runtime storage under its name fails verification and is loaded again', async () => {
      const loader = createImageLoader({ storeDir: join(root, 'store'), containersStorage: true, storageSpec: spec });
      const a = await archive('A2');
      const b = await archive('B2');
      const ia = await loader.load(a);
      const ib = await loader.load(b);
      // someone puts B's image under A's name (what a reused tag did by design)
      execFileSync('skopeo', [
        'copy',
        '--quiet',
        `oci:${ib.layoutDir}:${checkpointTag(b.sha256)}`,
        `containers-storage:${spec}${ia.image}`,
      ]);
      expect(await loader.verify(a, ia)).toMatch(/holds manifest sha256:[a-f0-9]{64}, expected/);
      const again = await loader.load(a);
      expect(again).toEqual(ia);
      expect(inspect(ia.image)?.layers.map((l) => l.digest)).toEqual([`sha256:${a.sha256}`]);
      expect(await loader.verify(a, again)).toBeNull();
    });

    it('verify refuses an image recorded under a name that is not derived from the archive and container', async () => {
      const loader = createImageLoader({ storeDir: join(root, 'store') });
      const a = await archive('A3');
      const ia = await loader.load(a);
      const renamed: LoadedImage = { ...ia, image: 'localhost/checkpoint/app:latest' };
      expect(await loader.verify(a, renamed)).toMatch(/not after archive/);
      expect(await loader.verify({ ...a, container: 'web' }, ia)).toMatch(/not after archive/);
      expect(await loader.verify(a, ia)).toBeNull();
      const index = join(ia.layoutDir, 'index.json');
      writeFileSync(index, readFileSync(index, 'utf8').replace(checkpointTag(a.sha256), 'latest'));
      expect(await loader.verify(a, ia)).toMatch(/0 manifests tagged/);
    });

    it('the agent loads into containers-storage and DELETE removes the image from it', async () => {
      const pair: AgentPair = await startAgentPair();
      try {
        const node = await pair.add('cs', undefined, { loader: { containersStorage: true, storageSpec: spec } });
        const body = await tarOf([{ name: 'config.dump', body: 'agent-cs' }]);
        const sha = createHash('sha256').update(body).digest('hex');
        const r = await rawPut(node.url, {
          token: pair.token,
          body,
          headers: { 'x-checkpoint-sha256': sha, 'x-checkpoint-container': 'app', 'x-migration-id': 'default/cs' },
        });
        expect(r).toMatchObject({ status: 201, body: { image: directCheckpointImage('app', sha) } });
        expect(inspect(directCheckpointImage('app', sha))?.layers.map((l) => l.digest)).toEqual([`sha256:${sha}`]);
        await pair.client.remove('cs', sha);
        expect(inspect(directCheckpointImage('app', sha))).toBeNull();
      } finally {
        await pair.stop();
      }
    });
  },
);
