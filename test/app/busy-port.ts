import { afterEach } from 'vitest';
import { holdTcpPort } from '../reliability/harness/free-port.js';

const held: { release(): Promise<void> }[] = [];
afterEach(async () => {
  for (const port of held.splice(0)) await port.release();
});

/** A TCP port held by the test until it ends, so a part cannot listen on it. */
export async function busyTcpPort(): Promise<number> {
  const port = await holdTcpPort();
  held.push(port);
  return port.port;
}
