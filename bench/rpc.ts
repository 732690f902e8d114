import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** One request to a bench child process and its answer. */
interface RpcRequest {
  readonly id: number;
  readonly method: string;
  readonly args: unknown;
}
type RpcReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

export type RpcHandlers = Record<string, (args: never) => Promise<unknown> | unknown>;

/** The parent's side: a child process (run with tsx) that answers method calls over IPC. */
export interface RpcChild<H extends RpcHandlers> {
  readonly pid: number;
  call<M extends keyof H & string>(method: M, args: Parameters<H[M]>[0]): Promise<Awaited<ReturnType<H[M]>>>;
  stop(): Promise<void>;
}

/** Forks `bench/children/<name>.ts` under tsx; `gc` exposes the collector for memory figures. */
export function spawnChild<H extends RpcHandlers>(name: string, options: { gc?: boolean } = {}): RpcChild<H> {
  const script = fileURLToPath(new URL(`./children/${name}.ts`, import.meta.url));
  // A profiled bench (`node --cpu-prof ...`) profiles its children too.
  const profiling = process.execArgv.filter((arg) => arg.startsWith('--cpu-prof'));
  const execArgv = ['--import', 'tsx', ...(options.gc ? ['--expose-gc'] : []), ...profiling];
  const child: ChildProcess = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  child.on('message', (raw) => {
    const reply = raw as RpcReply;
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`${name}: ${reply.error}`));
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`${name} exited (${signal ?? code}) before answering`));
    }
    pending.clear();
  });
  return {
    pid: child.pid ?? 0,
    call(method, args) {
      if (exited) return Promise.reject(new Error(`${name} has exited`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, method, args } satisfies RpcRequest);
      });
    },
    async stop() {
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** The child's side: answers calls until the parent disconnects. */
export function serveRpc(handlers: RpcHandlers): void {
  process.on('message', (raw) => {
    const request = raw as RpcRequest;
    const handler = handlers[request.method];
    void (async () => {
      try {
        if (!handler) throw new Error(`unknown method ${request.method}`);
        const result = await handler(request.args as never);
        process.send?.({ id: request.id, ok: true, result } satisfies RpcReply);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.send?.({ id: request.id, ok: false, error: message } satisfies RpcReply);
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  // An orderly exit on stop(), so that a profiled child (--cpu-prof) writes its profile.
  process.on('SIGTERM', () => process.exit(0));
}
