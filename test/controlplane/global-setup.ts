/**
 * Global setup of the `controlplane` tier: one control plane for the whole run, its plain `ControlPlaneInfo`
 * handed to the test files as `inject('controlPlane')`, stopped when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { type ControlPlaneInfo, startControlPlane } from '../harness/control-plane.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await startControlPlane({
    log: (line) => console.log(`[controlplane] ${line}`),
    keepDir: process.env.MS2M_KEEP_CONTROL_PLANE === '1',
  });
  project.provide('controlPlane', cp.info);
  return () => cp.stop();
}
