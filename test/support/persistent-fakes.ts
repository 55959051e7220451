/**
 * The instant fakes of the kubelet, broker and agents with their state and effect journal in one file, read
 * before and written (atomically) after every call: operator processes that are SIGKILLed and restarted, or
 * that hand over the lead to another process, all act on one world, and the journal counts each effect across
 * them. Calls are serialised within a process.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { FakeAgentClient } from '../../adapters/agent-client/fake.ts';
import type { AgentClient } from '../../adapters/agent-client/port.ts';
import type { Clock } from '../../adapters/clock/port.ts';
import { EffectJournal, type JournalEntry } from '../../adapters/effect-journal.ts';
import { FakeKubelet } from '../../adapters/kubelet/fake.ts';
import type { Kubelet } from '../../adapters/kubelet/port.ts';
import { FakeBroker } from '../../adapters/rabbitmq/fake.ts';
import type { Broker } from '../../adapters/rabbitmq/port.ts';

interface World {
  journal: EffectJournal;
  kubelet: FakeKubelet;
  broker: FakeBroker;
  agents: FakeAgentClient;
}

interface Saved {
  broker: ReturnType<FakeBroker['toJSON']>;
  agents: ReturnType<FakeAgentClient['toJSON']>;
  journal: JournalEntry[];
}

/** The journal entries saved in `file` (for assertions in the test process). */
export function savedJournal(file: string): JournalEntry[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Saved).journal : [];
}

/**
 * @example
 * ```ts
 * const { kubelet, broker, agents } = persistentFakes('/tmp/world.json', systemClock());
 * ```
 */
export function persistentFakes(
  file: string,
  clock: Clock,
): {
  kubelet: Kubelet;
  broker: Broker;
  agents: AgentClient;
  /** Adds an entry to the shared journal (effects of real adapters, e.g. a pod the API server created). */
  record(op: string, key: string, object: string, applied: boolean): Promise<void>;
} {
  let chain: Promise<unknown> = Promise.resolve();
  const load = (): World => {
    const journal = new EffectJournal(clock);
    const world: World = {
      journal,
      kubelet: new FakeKubelet({ clock, journal }),
      broker: new FakeBroker({ clock, journal, producerRate: 10, consumerRate: 100 }),
      agents: new FakeAgentClient({ clock, journal, bytesPerSecond: 1e12, sizeOf: () => 30 * 1024 * 1024 }),
    };
    if (existsSync(file)) {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
      world.broker.load(saved.broker);
      world.agents.load(saved.agents);
      journal.entries.push(...saved.journal);
    }
    return world;
  };
  const save = (w: World) => {
    const tmp = `${file}.${process.pid}.tmp`;
    const saved: Saved = { broker: w.broker.toJSON(), agents: w.agents.toJSON(), journal: w.journal.entries };
    writeFileSync(tmp, JSON.stringify(saved));
    renameSync(tmp, file);
  };
  /** Runs one call on a freshly loaded world and saves it, one call at a time. */
  const call = <T>(pick: (w: World) => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      const w = load();
      try {
        return await pick(w);
      } finally {
        save(w);
      }
    });
    chain = run.catch(() => undefined);
    return run;
  };
  const kubelet: Kubelet = { checkpoint: (req) => call((w) => w.kubelet.checkpoint(req)) };
  const broker: Broker = {
    ensureTopology: (cfg, key) => call((w) => w.broker.ensureTopology(cfg, key)),
    createReplayQueue: (cfg, key) => call((w) => w.broker.createReplayQueue(cfg, key)),
    unbindReplayQueue: (cfg, key) => call((w) => w.broker.unbindReplayQueue(cfg, key)),
    deleteReplayQueue: (cfg, key) => call((w) => w.broker.deleteReplayQueue(cfg, key)),
    sendControl: (cfg, pod, message, key) => call((w) => w.broker.sendControl(cfg, pod, message, key)),
    depth: (cfg, queue) => call((w) => w.broker.depth(cfg, queue)),
    consumerCount: (cfg, queue) => call((w) => w.broker.consumerCount(cfg, queue)),
    undeliveredBeforeReplay: (cfg) => call((w) => w.broker.undeliveredBeforeReplay(cfg)),
    close: async () => undefined,
  };
  const agents: AgentClient = {
    send: (req, onProgress) => call((w) => w.agents.send(req, onProgress)),
    push: (req, onProgress) => call((w) => w.agents.push(req, onProgress)),
    list: (node) => call((w) => w.agents.list(node)),
    remove: (node, id) => call((w) => w.agents.remove(node, id)),
    gc: () => call((w) => w.agents.gc()),
    predump: (node, req) => call((w) => w.agents.predump(node, req)),
  };
  const record = (op: string, key: string, object: string, applied: boolean) =>
    call(async (w) => w.journal.add(op, key, object, applied));
  return { kubelet, broker, agents, record };
}
