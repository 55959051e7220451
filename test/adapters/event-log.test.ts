import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createMemoryEventLog } from '../../adapters/event-log/fake.ts';
import { openFileLog } from '../../adapters/file-log/file-log.ts';
import { eventLogContract } from './event-log.contract.ts';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ms2m-event-log-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

eventLogContract('memory', async () => createMemoryEventLog());

eventLogContract('file (fsync)', async () =>
  openFileLog({ dir: join(root, `log-${++n}`), logger: pino({ level: 'silent' }) }),
);

// The same directory for every test: the file log must keep migrations apart and reopen cleanly.
eventLogContract('file (shared dir, no fsync)', async () =>
  openFileLog({ dir: join(root, 'shared'), logger: pino({ level: 'silent' }), fsync: false }),
);
