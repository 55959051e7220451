/**
 * Where an evaluation runs: the cluster a kubeconfig reaches, its broker (as pods reach it, and its management
 * API), the event log the operator writes, the workload image and the registry for Registry transfers. On the
 * local cluster (`ms2m cluster up`) every one of them has a default; on another cluster the options name them,
 * and a missing one is a usage error that says which option to pass.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';
import type { EventLogConfig } from '../../adapters/event-log/open.ts';
import { buildImages } from '../../cluster/images/build.ts';
import { adminKubeconfig, ENDPOINTS } from '../../cluster/local/topology.ts';

export interface TargetOptions {
  kubeconfig?: string;
  log?: string;
  nats?: string;
  image?: string;
  amqpUrl?: string;
  rabbitmqManagement?: string;
  checkpointRepository?: string;
}

export interface EvalTarget {
  kc: KubeConfig;
  /** The kubeconfig file used (for messages). */
  kubeconfig: string;
  /** The local cluster of `ms2m cluster up`. */
  local: boolean;
  amqpUrl: string;
  managementUrl: string;
  log: EventLogConfig;
  checkpointRepository?: string;
  /** The workload image: given, or (local cluster) built from this checkout and pushed to its registry. */
  image(log: (line: string) => void): Promise<string>;
}

/** An option the target needs was not given (exit code 2). */
export class TargetOptionError extends Ms2mError {
  constructor(problem: string) {
    super(ErrorCode.USAGE, problem);
  }
}

/**
 * Resolves the target from the options, the environment ($KUBECONFIG) and, when the kubeconfig is the local
 * cluster's, its fixed endpoints.
 *
 * @example
 * ```ts
 * const t = resolveTarget({}); // the local cluster: t.log = { kind: 'nats', servers: 'nats://10.210.0.1:4222' }
 * ```
 */
export function resolveTarget(o: TargetOptions, env: NodeJS.ProcessEnv = process.env): EvalTarget {
  const kc = new KubeConfig();
  let file: string;
  if (o.kubeconfig !== undefined) {
    if (!existsSync(o.kubeconfig)) throw new TargetOptionError(`--kubeconfig ${o.kubeconfig}: no such file`);
    kc.loadFromFile(o.kubeconfig);
    file = o.kubeconfig;
  } else if (env.KUBECONFIG) {
    const missing = env.KUBECONFIG.split(':').filter((f) => f !== '' && !existsSync(f));
    if (missing.length) throw new TargetOptionError(`KUBECONFIG names ${missing.join(', ')}: no such file`);
    // KUBECONFIG may list several files: client-node merges them as kubectl does
    kc.loadFromDefault();
    file = env.KUBECONFIG;
  } else if (existsSync(adminKubeconfig())) {
    kc.loadFromFile(adminKubeconfig());
    file = adminKubeconfig();
  } else if (existsSync(join(homedir(), '.kube', 'config')) || env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromDefault();
    file = existsSync(join(homedir(), '.kube', 'config')) ? join(homedir(), '.kube', 'config') : '(in-cluster)';
  } else {
    file = '';
  }
  if (!file || !kc.getCurrentCluster()) {
    throw new TargetOptionError(
      "no cluster: pass --kubeconfig FILE, set KUBECONFIG, or bring the local cluster up with 'ms2m cluster up'",
    );
  }
  const local = kc.getCurrentCluster()?.server === ENDPOINTS.apiserver;
  const need = (value: string | undefined, localValue: string, what: string): string => {
    if (value !== undefined) return value;
    if (local) return localValue;
    throw new TargetOptionError(`the cluster of ${file} is not the local cluster: pass ${what}`);
  };
  if (o.log !== undefined && o.nats !== undefined) {
    throw new TargetOptionError('ms2m eval records in one event log: give --log DIR or --nats URL, not both');
  }
  const log: EventLogConfig =
    o.log !== undefined
      ? { kind: 'file', dir: o.log }
      : {
          kind: 'nats',
          servers: need(o.nats, ENDPOINTS.nats, '--nats URL or --log DIR (the log the operator writes)'),
        };
  const image = o.image;
  return {
    kc,
    kubeconfig: file,
    local,
    amqpUrl: need(o.amqpUrl, ENDPOINTS.amqp, '--amqp-url (the broker as pods reach it)'),
    managementUrl: need(o.rabbitmqManagement, ENDPOINTS.rabbitManagement, '--rabbitmq-management URL'),
    log,
    checkpointRepository:
      o.checkpointRepository ?? (local ? `${ENDPOINTS.registryOnNodes}/ms2m/checkpoints` : undefined),
    async image(say) {
      if (image !== undefined) return image;
      if (!local) throw new TargetOptionError(`the cluster of ${file} is not the local cluster: pass --image`);
      const built = await buildImages({ registry: ENDPOINTS.registry, only: ['workloads'], log: say });
      const ref = built.workloads?.ref;
      if (!ref) throw new Ms2mError(ErrorCode.INTERNAL, 'the image build did not produce ms2m/workloads');
      // pushed from here to the registry's address, pulled by the nodes as localhost:5000
      return ref.replace(`${ENDPOINTS.registry}/`, `${ENDPOINTS.registryOnNodes}/`);
    },
  };
}
