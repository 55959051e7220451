/**
 * The charts `ms2m diagram` and `ms2m ui` can draw, and an instance of one found by name in a (read-only) log.
 */
import type { AnyChart } from '../../actors/chart.ts';
import { migrationChart } from '../../actors/charts/migration.ts';
import { volumeResizeChart } from '../../actors/charts/volume-resize.ts';
import { InvalidInputError, NotFoundError } from '../../adapters/errors.ts';
import type { EventLogReader } from '../../adapters/event-log/port.ts';
import type { EventEnvelope, StreamKey } from '../../machines/envelope.ts';

/** The charts a diagram can be drawn of, by kind (add a chart here to draw it and to show its instances). */
export const DIAGRAM_CHARTS: ReadonlyMap<string, AnyChart> = new Map<string, AnyChart>([
  [migrationChart.kind, migrationChart],
  [volumeResizeChart.kind, volumeResizeChart],
]);

/** The chart of `kind`, or an error naming the kinds there are. */
export function chartOf(kind: string): AnyChart {
  const chart = DIAGRAM_CHARTS.get(kind);
  if (!chart) {
    throw new InvalidInputError(
      `Chart ${kind}`,
      `this ms2m has no chart of that kind; use ${[...DIAGRAM_CHARTS.keys()].join(' or ')}`,
    );
  }
  return chart;
}

/** `namespace/name` of an instance id (`namespace/name/uid` for operator-run migrations). */
export const nameOf = (id: string): string => id.split('/').slice(0, 2).join('/');

/**
 * The stream of the instance called `name` (`NAMESPACE/NAME`, or its full id): the latest one when a name was
 * reused (several UIDs).
 */
export async function findInstance(
  reader: EventLogReader,
  kind: string,
  name: string,
): Promise<{ key: StreamKey; events: EventEnvelope[] }> {
  const keys = (await reader.list(kind)).filter((k) => k.id === name || k.id.startsWith(`${name}/`));
  let best: { key: StreamKey; events: EventEnvelope[] } | null = null;
  for (const key of keys) {
    const events = await reader.read(key);
    if (events.length === 0) continue;
    if (!best || events[0]!.at > best.events[0]!.at) best = { key, events };
  }
  if (!best) {
    throw new NotFoundError(
      kind,
      name,
      `no events of it in ${reader.locate({ kind, id: name })}; check the name (NAMESPACE/NAME) and the log (--log or --nats)`,
    );
  }
  return best;
}
