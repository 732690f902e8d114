import type { RolloutDetailView } from '../../../controller/api/read-model/views.js';
import type { ControllerProcess } from './controller-process.js';

/** The rollout as the running controller's API shows it; undefined while it is not known (yet). */
export async function rolloutStatus(
  controller: ControllerProcess,
  name: string,
): Promise<RolloutDetailView | undefined> {
  const res = await controller.get(`/api/v1/rollouts/${encodeURIComponent(name)}`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return undefined;
  }
  if (!res.ok) throw new Error(`GET rollout ${name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as RolloutDetailView;
}

/** Completed with every selected device up to date. */
export function isComplete(view: RolloutDetailView | undefined, devices: number): boolean {
  return (
    view !== undefined &&
    view.phase === 'Completed' &&
    view.counts.selected === devices &&
    view.counts.upToDate === devices
  );
}
