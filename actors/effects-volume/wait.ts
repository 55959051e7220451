/** Deletes-and-waits shared by the VolumeResize effects and its rollback. */
import type { VrEffectEnv } from './deps.ts';
import { pollUntil } from './deps.ts';

/** Deletes the pod of that name (the instance seen now) and waits until that instance is gone. */
export async function deletePodAndWait(env: VrEffectEnv, namespace: string, name: string, key: string): Promise<void> {
  const pod = await env.deps.volumes.getPod(namespace, name);
  if (!pod) return;
  await env.deps.volumes.deletePod(namespace, name, key, { uid: pod.uid });
  await pollUntil(env, async () => {
    const now = await env.deps.volumes.getPod(namespace, name);
    return now && now.uid === pod.uid ? undefined : true;
  });
}

/** Deletes the claim instance with this uid (when it is the one there) and waits until it is gone. */
export async function deleteClaimAndWait(
  env: VrEffectEnv,
  namespace: string,
  name: string,
  uid: string | undefined,
  key: string,
): Promise<void> {
  const claim = await env.deps.volumes.getClaim(namespace, name);
  if (!claim || (uid !== undefined && claim.uid !== uid)) return;
  await env.deps.volumes.deleteClaim(namespace, name, key, { uid: claim.uid });
  await pollUntil(env, async () => {
    const now = await env.deps.volumes.getClaim(namespace, name);
    return now && now.uid === claim.uid ? undefined : true;
  });
}
