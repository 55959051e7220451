import { defineConfig } from 'vitest/config';

// Test tiers (ARCHITECTURE.md §7). `npm test` runs them all through scripts/test.sh.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'property', include: ['test/property/**/*.test.ts'], testTimeout: 600_000 } },
      { test: { name: 'golden', include: ['test/golden/**/*.test.ts'] } },
      {
        test: {
          name: 'adapters',
          include: ['test/adapters/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'controlplane',
          include: ['test/controlplane/**/*.test.ts'],
          globalSetup: ['test/controlplane/global-setup.ts'],
          // one control plane for the tier: files share its nodes, Lease and controllers, so they take turns
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // the visualiser: diagrams, `ms2m diagram`/`ui` through the CLI, the web app in Debian's Chromium
          // (scripts/install-chromium.sh), the Stately inspector
          name: 'ui',
          include: ['test/ui/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      { test: { name: 'e2e', include: ['test/e2e/*.test.ts'], testTimeout: 180_000 } },
      {
        test: {
          // the real local cluster (ARCHITECTURE.md §6): two kubelets on containerd + runc + CRIU, brought up once
          name: 'cluster',
          include: ['test/e2e/cluster/**/*.test.ts'],
          globalSetup: ['test/e2e/cluster/global-setup.ts'],
          // one cluster, one source and one target node: migrations take turns
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
