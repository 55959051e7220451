/**
 * The shapes the UI's JSON API answers with (server.ts writes them, the client reads them). This file imports
 * nothing, so the browser client can use its types without the server's code.
 */

/** One event of an instance's timeline (as actors/timeline.ts `TimelineRow`). */
export interface TimelineRow {
  seq: number;
  at: string;
  offsetMs: number;
  type: string;
  phase: string;
  message: string;
}

export interface InstanceSummary {
  kind: string;
  id: string;
  /** `namespace/name`. */
  name: string;
  phase: string;
  done: boolean;
  /** One line: the chart's latest message. */
  message: string;
  startedAt: string;
  lastEventAt: string;
  /** Start to the last event (finished) or to now (running), ms. */
  elapsedMs: number;
  events: number;
  /** Strategy, transfer and replay mode of a migration; empty for other charts. */
  details: Record<string, string>;
}

export interface PhaseSegment {
  phase: string;
  startMs: number;
  endMs: number;
}

export interface InstanceDetail extends InstanceSummary {
  rows: TimelineRow[];
  segments: PhaseSegment[];
  /** Seconds since the start, the replay queue's depth then. */
  replayDepth: Array<{ t: number; depth: number; ready: number; unacked: number }>;
  /** Seconds since the start, checkpoint bytes transferred (MiB) then. */
  bytes: Array<{ t: number; mib: number; totalMib: number }>;
  /** Exact phase durations (ms), as the status reports them. */
  phaseTimings: Record<string, number>;
  /** Current and visited state node ids (the diagram marks them). */
  current: string[];
  visited: Record<string, number>;
  /** A VolumeResize's plan and per-claim status, projected from its events as the operator writes its status. */
  volumeResize?: VolumeResizeView;
}

export interface VolumeResizeView {
  plan: Array<{ order: number; step: string; action: string; kind: string; name: string; detail: string }>;
  volumes: Array<{
    volumeName: string;
    replica: number;
    phase: string;
    oldPVCName: string;
    newPVCName: string;
    oldPVName?: string;
    newPVName?: string;
    usedBytes?: number;
    bytesCopied: number;
    bytesTotal: number;
  }>;
}

/** The evaluation page: aggregate charts (vega-lite specs) of the runs in the log. */
export interface EvaluationCharts {
  title: string;
  /** Why there is nothing to show (no runs in this log), when `charts` is empty. */
  note?: string;
  charts: Array<{ title: string; spec: unknown }>;
}
