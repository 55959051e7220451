/**
 * Certificates and kubeconfigs of the local control plane, made with `openssl` at start: a CA, serving certs for
 * the servers, client certs for the admin, the components and any test user, the service-account key pair.
 * ECDSA P-256 keys throughout (instant to generate; Kubernetes accepts them everywhere, ES256 for tokens).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of one certificate and its key. */
export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

/** Who a client certificate authenticates: Kubernetes reads the user from CN and the groups from O. */
export interface ClientIdentity {
  readonly user: string;
  readonly groups?: readonly string[];
}

/** Thrown when openssl fails; `stderr` is openssl's own message. */
export class PkiError extends Error {
  readonly code = 'PKI_OPENSSL_FAILED';
  constructor(
    message: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}: ${stderr.trim()}`, options);
    this.name = 'PkiError';
  }
}

async function openssl(what: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PkiError(`openssl could not ${what}`, e.stderr || e.message, { cause: err });
  }
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** `-subj` value: special characters of a distinguished name escaped with a backslash. */
function subject(cn: string, orgs: readonly string[] = []): string {
  const esc = (s: string) => s.replace(/[\\/+=,]/g, '\\$&');
  return `${orgs.map((o) => `/O=${esc(o)}`).join('')}/CN=${esc(cn)}`;
}

/** Creates a self-signed CA in `dir` (ca.crt, ca.key), valid ten years. */
export async function createCa(dir: string, commonName = 'ms2m-local-ca'): Promise<CertPair> {
  const pair = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl('create the cluster CA', [
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    '3650',
    '-subj',
    subject(commonName),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return pair;
}

interface LeafSpec {
  readonly name: string;
  readonly cn: string;
  readonly orgs?: readonly string[];
  readonly usage: 'serverAuth' | 'clientAuth';
  /** subjectAltName entries, e.g. `IP:127.0.0.1`, `DNS:localhost` */
  readonly sans?: readonly string[];
}

async function createLeaf(dir: string, ca: CertPair, spec: LeafSpec): Promise<CertPair> {
  const pair = { cert: join(dir, `${spec.name}.crt`), key: join(dir, `${spec.name}.key`) };
  const csr = join(dir, `${spec.name}.csr`);
  const ext = join(dir, `${spec.name}.ext`);
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${spec.usage}`,
  ];
  if (spec.sans?.length) lines.push(`subjectAltName=${spec.sans.join(',')}`);
  await writeFile(ext, `${lines.join('\n')}\n`);
  await openssl(`create a key for ${spec.cn}`, [
    'req',
    '-new',
    ...ecKey,
    '-keyout',
    pair.key,
    '-out',
    csr,
    '-subj',
    subject(spec.cn, spec.orgs),
  ]);
  await openssl(`sign the certificate of ${spec.cn}`, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    '365',
    '-extfile',
    ext,
    '-out',
    pair.cert,
  ]);
  return pair;
}

/** A serving certificate for `sans` (e.g. `IP:127.0.0.1`, `DNS:localhost`), signed by `ca`. */
export function createServingCert(
  dir: string,
  ca: CertPair,
  name: string,
  cn: string,
  sans: readonly string[],
): Promise<CertPair> {
  return createLeaf(dir, ca, { name, cn, usage: 'serverAuth', sans });
}

/** A client certificate for `identity` (CN = user, one O per group), signed by `ca`. */
export function createClientCert(dir: string, ca: CertPair, name: string, identity: ClientIdentity): Promise<CertPair> {
  return createLeaf(dir, ca, { name, cn: identity.user, orgs: identity.groups ?? [], usage: 'clientAuth' });
}

/** The service-account token key pair: `sa.key` (private, signs tokens) and `sa.pub` (verifies them). */
export async function createServiceAccountKeys(dir: string): Promise<{ key: string; pub: string }> {
  const keys = { key: join(dir, 'sa.key'), pub: join(dir, 'sa.pub') };
  await openssl('create the service-account key', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    keys.key,
  ]);
  await openssl('derive the service-account public key', ['pkey', '-in', keys.key, '-pubout', '-out', keys.pub]);
  return keys;
}

/**
 * Writes a kubeconfig (YAML, certificates embedded) that reaches `server` as the holder of `client`.
 *
 * @example
 * ```ts
 * await writeKubeconfig('/tmp/x/admin.kubeconfig', 'https://127.0.0.1:6443', ca, admin, 'admin');
 * ```
 */
export async function writeKubeconfig(
  path: string,
  server: string,
  ca: CertPair,
  client: CertPair,
  userName: string,
): Promise<void> {
  const b64 = async (p: string) => (await readFile(p)).toString('base64');
  const [caData, certData, keyData] = await Promise.all([b64(ca.cert), b64(client.cert), b64(client.key)]);
  const user = JSON.stringify(userName);
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters:
  - name: ms2m
    cluster:
      server: ${server}
      certificate-authority-data: ${caData}
users:
  - name: ${user}
    user:
      client-certificate-data: ${certData}
      client-key-data: ${keyData}
contexts:
  - name: ms2m
    context:
      cluster: ms2m
      user: ${user}
current-context: ms2m
`,
    { mode: 0o600 },
  );
}
