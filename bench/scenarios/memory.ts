import type { LoadClientHandlers } from '../children/load-client.js';
import type { MemoryControllerHandlers } from '../children/memory-controller.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { spawnChild } from '../rpc.js';

/**
 * Figure 6: heap and RSS per registered device of the controller's registration path (Lwm2mServer +
 * device sync, PGlite in memory) in a child process with --expose-gc, after every device registered
 * and was interrogated (object 3, 5/0/8, 5/0/9 read, 5/0/3 and 5/0/5 observed).
 */
export async function measureControllerMemory(
  devices: number,
  log: (line: string) => void,
  timeoutMs: number,
  settleMs: number,
): Promise<Figure[]> {
  const controller = spawnChild<MemoryControllerHandlers>('memory-controller', { gc: true });
  const load = spawnChild<LoadClientHandlers>('load-client');
  try {
    const port = await controller.call('port', undefined);
    await controller.call('baseline', undefined);
    await load.call('register', {
      host: '127.0.0.1',
      port,
      prefix: 'mem-',
      count: devices,
      clients: Math.min(500, devices),
      lifetime: 3600,
    });
    const m = await controller.call('measure', { count: devices, timeoutMs, settleMs });
    log(
      `memory ${devices}: heap ${m.heapPerDevice.toFixed(0)} B/device, RSS ${(m.rssPerDevice / 1024).toFixed(1)} KiB/device`,
    );
    const common = { fleet: m.registrations, database: 'pglite' } as const;
    return [
      figure(
        {
          id: `memory.heap.${devices}`,
          what: 'controller heap per registered device (after GC)',
          value: m.heapPerDevice,
          unit: 'B',
          ...common,
          note: `Lwm2mServer registration + 2 observations + device sync state; measured ${settleMs > 0 ? `${(settleMs / 1000).toFixed(0)} s after the last registration (node-coap response cache expired)` : 'right after the last registration (includes node-coap response cache)'}`,
        },
        GOALS.heapPerDevice,
      ),
      figure({
        id: `memory.rss.${devices}`,
        what: 'controller RSS per registered device (incl. PGlite)',
        value: m.rssPerDevice,
        unit: 'B',
        ...common,
        note: `external+arrayBuffers ${(m.externalPerDevice / 1024).toFixed(2)} KiB/device`,
      }),
    ];
  } finally {
    await controller.call('stop', undefined).catch(() => {});
    await load.call('close', undefined).catch(() => {});
    await Promise.all([controller.stop(), load.stop()]);
  }
}
