import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Manager, PartStartError, PartStopError, StartAbortedError } from '../../controller/app/manager.js';
import { ResourcePart } from '../../controller/app/resource-part.js';
import type { Runnable } from '../../controller/app/runnable.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { udpFree } from '../reliability/harness/free-port.js';
import { busyTcpPort } from './busy-port.js';

/** What the parts did, in order: "start x", "stop x". */
type Journal = string[];

/** The UDP port each udpPart bound, by name: still known after the part stopped. */
const udpPorts = new Map<string, number>();

function udpPart(journal: Journal, name: string, port = 0): ResourcePart<Socket> {
  return new ResourcePart(
    name,
    async () => {
      journal.push(`start ${name}`);
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, '127.0.0.1', () => resolve());
      });
      udpPorts.set(name, socket.address().port);
      return socket;
    },
    (socket) => {
      journal.push(`stop ${name}`);
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  );
}

function tcpPart(journal: Journal, name: string, port = 0): ResourcePart<Server> {
  return new ResourcePart(
    name,
    async () => {
      journal.push(`start ${name}`);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      return server;
    },
    (server) => {
      journal.push(`stop ${name}`);
      return new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  );
}

/** A part whose start waits until the test opens it. */
function gatePart(journal: Journal, name: string) {
  let open = () => {};
  let entered = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const reached = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const part: Runnable = {
    name,
    async start() {
      journal.push(`start ${name}`);
      entered();
      await opened;
    },
    async stop() {
      journal.push(`stop ${name}`);
    },
  };
  return { part, open, reached };
}

describe.each(testBackends.map((b) => [b.name, b] as const))('Manager (%s)', (_name, backend) => {
  /** Every store the database parts opened. */
  const opened: OpenDatabase[] = [];
  const databasePart = (journal: Journal) =>
    new ResourcePart<OpenDatabase>(
      'database',
      async () => {
        journal.push('start database');
        const store = await backend.open();
        opened.push(store);
        return store;
      },
      (store) => {
        journal.push('stop database');
        return store.close();
      },
    );

  it('starts the parts in order, each once the one before is ready, and stops them in reverse', async () => {
    const journal: Journal = [];
    const database = databasePart(journal);
    const udp = udpPart(journal, 'udp');
    const tcp = tcpPart(journal, 'tcp');
    const manager = new Manager('test', [database, udp, tcp]);

    await manager.start();
    expect(journal).toEqual(['start database', 'start udp', 'start tcp']);
    await database.current.db.selectFrom('events').select('id').execute();
    const udpPort = udpPorts.get('udp')!;
    expect(await udpFree(udpPort)).toBe(false);

    await manager.stop();
    expect(journal.slice(3)).toEqual(['stop tcp', 'stop udp', 'stop database']);
    expect(await udpFree(udpPort)).toBe(true);
    expect(database.running).toBe(false);
  });

  it('on a start failure, stops the parts started (in reverse) and names the part that failed', async () => {
    const journal: Journal = [];
    const database = databasePart(journal);
    const manager = new Manager('test', [
      database,
      udpPart(journal, 'udp'),
      tcpPart(journal, 'busy tcp', await busyTcpPort()),
      tcpPart(journal, 'never started'),
    ]);

    const error = await manager.start().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PartStartError);
    expect((error as PartStartError).part).toBe('busy tcp');
    expect((error as PartStartError).message).toMatch(/^busy tcp: listen EADDRINUSE/);
    expect(((error as PartStartError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(journal).toEqual(['start database', 'start udp', 'start busy tcp', 'stop udp', 'stop database']);
    expect(await udpFree(udpPorts.get('udp')!)).toBe(true);
    await expect(opened.at(-1)!.db.selectFrom('events').select('id').execute()).rejects.toThrow();
    // Nothing is left to stop.
    await manager.stop();
    expect(journal).toHaveLength(5);
  });

  it('stops every part even when some fail to stop, and reports those', async () => {
    const journal: Journal = [];
    const database = databasePart(journal);
    const failing = (name: string): Runnable => ({
      name,
      start: async () => {
        journal.push(`start ${name}`);
      },
      stop: async () => {
        journal.push(`stop ${name}`);
        throw new Error(`${name} would not stop`);
      },
    });
    const manager = new Manager('test', [database, failing('a'), udpPart(journal, 'udp'), failing('b')]);
    await manager.start();

    const error = await manager.stop().catch((e: unknown) => e);

    expect(journal.slice(4)).toEqual(['stop b', 'stop udp', 'stop a', 'stop database']);
    expect(error).toBeInstanceOf(PartStopError);
    expect((error as PartStopError).failures.map((f) => f.part)).toEqual(['b', 'a']);
    expect(database.running).toBe(false);
  });
});

describe('Manager stopped while starting', () => {
  it('lets the part starting finish, starts no more, and stops those started', async () => {
    const journal: Journal = [];
    const gate = gatePart(journal, 'gate');
    const manager = new Manager('test', [udpPart(journal, 'udp'), gate.part, tcpPart(journal, 'after')]);
    const started = manager.start();
    await gate.reached;
    const udpPort = udpPorts.get('udp')!;

    const stopped = manager.stop();
    gate.open();

    await expect(started).rejects.toBeInstanceOf(StartAbortedError);
    await stopped;
    expect(journal).toEqual(['start udp', 'start gate', 'stop gate', 'stop udp']);
    expect(await udpFree(udpPort)).toBe(true);
  });

  it('passes the stop on to a manager nested in it', async () => {
    const journal: Journal = [];
    const gate = gatePart(journal, 'gate');
    const inner = new Manager('inner', [
      udpPart(journal, 'inner udp'),
      gate.part,
      udpPart(journal, 'inner after'),
    ]);
    const outer = new Manager('outer', [
      udpPart(journal, 'outer udp'),
      inner,
      udpPart(journal, 'outer after'),
    ]);
    const started = outer.start();
    await gate.reached;

    const stopped = outer.stop();
    gate.open();

    await expect(started).rejects.toBeInstanceOf(StartAbortedError);
    await stopped;
    expect(journal).toEqual([
      'start outer udp',
      'start inner udp',
      'start gate',
      'stop gate',
      'stop inner udp',
      'stop outer udp',
    ]);
  });
});
