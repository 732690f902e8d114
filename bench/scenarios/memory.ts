import type { MemoryControllerHandlers } from '../children/memory-controller.js';
import type { SimHostHandlers } from '../children/sim-host.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { type RpcChild, spawnChild } from '../rpc.js';

/**
 * Simulated devices per sim-host process. Each device has a UDP socket of its own (a distinct peer,
 * as in a real fleet), so a host is bounded by its file descriptors (ulimit -n, 20,000 here) and by
 * the ~28,000 ephemeral ports of its bind address; every host binds its own 127.0.0.x.
 */
const DEVICES_PER_HOST = 12_500;

/**
 * Figure 6: heap and RSS per registered device of the controller's registration path (Lwm2mServer +
 * device sync, PGlite in memory) in a child process with --expose-gc, after every device registered
 * and was interrogated (object 3, 5/0/8, 5/0/9 read, 5/0/3 and 5/0/5 observed). The devices are full
 * simulated devices (controller/sim) spread over sim-host processes, one socket per device.
 */
export async function measureControllerMemory(
  devices: number,
  log: (line: string) => void,
  timeoutMs: number,
  settleMs: number,
  baselineStillSeconds: number,
): Promise<Figure[]> {
  const controller = spawnChild<MemoryControllerHandlers>('memory-controller', { gc: true });
  const hosts: RpcChild<SimHostHandlers>[] = [];
  try {
    const port = await controller.call('port', undefined);
    await controller.call('baseline', { stillSeconds: baselineStillSeconds });
    const t0 = performance.now();
    // One host at a time: each is a burst of its devices' Registers.
    for (let i = 0, left = devices; left > 0; i++, left -= DEVICES_PER_HOST) {
      const host = spawnChild<SimHostHandlers>('sim-host');
      hosts.push(host);
      await host.call('start', {
        server: `coap://127.0.0.1:${port}`,
        count: Math.min(DEVICES_PER_HOST, left),
        prefix: `mem${i}-`,
        version: '1.0.0',
        model: 'MEM1',
        bindAddress: `127.0.0.${2 + i}`,
      });
    }
    const registeredSeconds = (performance.now() - t0) / 1000;
    // Interrogating 100,000 devices takes minutes on a loaded 2-core machine; a stall ends the wait anyway.
    const measureTimeoutMs = Math.max(timeoutMs, devices * 10);
    const m = await controller.call('measure', { count: devices, timeoutMs: measureTimeoutMs, settleMs });
    const when =
      settleMs > 0
        ? `${(settleMs / 1000).toFixed(0)} s after the last device was interrogated (past the CoAP exchange lifetime)`
        : 'right after the last device was interrogated (includes the response cache of the burst)';
    log(
      `memory ${devices}: heap ${m.heapPerDevice.toFixed(0)} B/device, RSS ${(m.rssPerDevice / 1024).toFixed(1)} KiB/device (${when}; registered in ${registeredSeconds.toFixed(0)} s from ${hosts.length} sim hosts)`,
    );
    const common = { fleet: m.registrations, database: 'pglite' } as const;
    return [
      figure(
        {
          id: `memory.heap.${devices}`,
          what:
            settleMs > 0
              ? 'controller heap per registered device (after GC, settled)'
              : 'controller heap per registered device (after GC, right after the burst)',
          value: m.heapPerDevice,
          unit: 'B',
          ...common,
          note: `Lwm2mServer registration + 2 observations + device sync state of simulated devices (one UDP socket each, ${hosts.length} sim hosts); ${m.interrogated} of ${m.registrations} interrogated (a device whose reads timed out is tried again at its next Update); measured ${when}`,
        },
        GOALS.heapPerDevice,
      ),
      figure({
        id: `memory.rss.${devices}`,
        what: 'controller RSS per registered device (incl. PGlite)',
        value: m.rssPerDevice,
        unit: 'B',
        ...common,
        note: `external+arrayBuffers (PGlite's memory) ${(m.externalPerDevice / 1024).toFixed(2)} KiB/device; RSS is relative to the controller's RSS at start-up, which the allocator may partly give back`,
      }),
    ];
  } finally {
    // The simulated devices are not stopped through the fleet: they would de-register one by one,
    // retransmitting to a controller already gone. Ending their processes is enough.
    await controller.call('stop', undefined).catch(() => {});
    await Promise.all([controller.stop(), ...hosts.map((h) => h.stop())]);
  }
}
