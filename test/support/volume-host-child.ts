/**
 * One VolumeResize run by the real runtime in its own process, for the cluster tier (spawned with tsx): the
 * VolumeResize host (actors/charts/volume-resize.ts) on the real VolumeOps (adapters/volumes/kubernetes.ts), the
 * embedded file event log and the system clock. A second process with the same log dir and id resumes the run
 * from the log, as the operator does after a crash.
 *
 * Environment: KUBECONFIG, MS2M_VR_LOG_DIR (the file log), MS2M_VR_ID (`<ns>/<name>/<uid>`), MS2M_VR_SPEC (the
 * VolumeResize spec as JSON, as in the resource), MS2M_KILL_AFTER_EVENT (optional, `Type#n`: SIGKILL right after
 * the n-th append of that type by this process is durable), MS2M_CANCEL_AFTER_EVENT (optional, `Type#n`: record
 * a cancel then, as the controller does when the resource is deleted or spec.cancel is set), MS2M_CHILD_LOG (pino
 * level, default warn, to stderr). Prints `started <pid>`, then on the end one JSON line with the final
 * context (`{"final": ...}`) and exits 0.
 */
import pino from 'pino';
import { VolumeResizeHost } from '../../actors/charts/volume-resize.ts';
import { normalizeVolumeResizeSpec } from '../../actors/volume-resize-spec.ts';
import { systemClock } from '../../adapters/clock/system.ts';
import { openEventLog } from '../../adapters/event-log/open.ts';
import type { EventLog } from '../../adapters/event-log/port.ts';
import { loadKubeConfig } from '../../adapters/kubernetes/keep-alive-kubeconfig.ts';
import { KubeVolumes } from '../../adapters/volumes/kubernetes.ts';
import type { EventEnvelope } from '../../machines/envelope.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`volume-host-child: ${name} is not set`);
  return v;
};

const logger = pino({ level: process.env.MS2M_CHILD_LOG ?? 'warn' }, pino.destination(2));
const kc = loadKubeConfig({ file: env('KUBECONFIG') });
const id = env('MS2M_VR_ID');
const [namespace, name, uid] = id.split('/') as [string, string, string];
const at = (v: string | undefined) => {
  const [type, n] = (v ?? '').split('#');
  return { type, n: Number(n) };
};
const kill = at(process.env.MS2M_KILL_AFTER_EVENT);
const cancel = at(process.env.MS2M_CANCEL_AFTER_EVENT);
const appended = new Map<string, number>();
let onCancelPoint: (() => void) | undefined;

const fileLog = await openEventLog({ kind: 'file', dir: env('MS2M_VR_LOG_DIR') }, logger);
const log: EventLog = new Proxy(fileLog, {
  get(t, k) {
    if (k === 'append')
      return async (...args: Parameters<EventLog['append']>) => {
        const stored: EventEnvelope = await t.append(...args);
        const n = (appended.get(stored.type) ?? 0) + 1;
        appended.set(stored.type, n);
        if (stored.type === kill.type && n === kill.n) {
          process.stderr.write(`volume-host-child: SIGKILL after seq ${stored.seq} (${stored.type})\n`);
          process.kill(process.pid, 'SIGKILL');
        }
        if (stored.type === cancel.type && n === cancel.n) setImmediate(() => onCancelPoint?.());
        return stored;
      };
    const v = Reflect.get(t, k, t);
    return typeof v === 'function' ? v.bind(t) : v;
  },
});

const host = await VolumeResizeHost.open({
  id,
  deps: { volumes: new KubeVolumes({ kubeConfig: kc, logger }), clock: systemClock(), logger, pollMs: 250, log },
});
onCancelPoint = () => {
  process.stderr.write('volume-host-child: cancel requested\n');
  void host.cancel('the VolumeResize was deleted (test)');
};
process.stdout.write(`started ${process.pid}\n`);
if (!host.snapshot()) {
  const spec = normalizeVolumeResizeSpec({ namespace, name, uid }, JSON.parse(env('MS2M_VR_SPEC')), {
    maxAttempts: 3,
    retryBaseMs: 500,
  });
  await host.request({ spec });
}
const final = await host.done();
await host.idle();
await log.close();
process.stdout.write(`${JSON.stringify({ final: final.context })}\n`);
process.exit(0);
