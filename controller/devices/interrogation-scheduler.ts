import { type Failure, isAsleep, type ReadResult, type RequestGate } from '../lwm2m/index.js';
import { isSilence } from './interrogate.js';
import type { InterrogationOutcome, Interrogator, ProbeAnswer } from './interrogator.js';
import type { Limiter, LimiterSlot } from './limiter.js';
import { SilenceBackoff } from './silence-backoff.js';
import type { SyncContext } from './sync-context.js';

export interface InterrogationSchedulerOptions {
  readonly probeTimeoutMs: number;
  readonly silenceBackoffMs: number;
  readonly maxSilenceBackoffMs: number;
  /** 0: no sweep. */
  readonly backoffSweepMs: number;
}

/** One interrogation per endpoint at a time; a request during a run asks for one more run. */
interface Task {
  phase: 'queued' | 'running' | 'again';
  /** Read object 3 and 5/0/8, 5/0/9 too (not only observe). */
  full: boolean;
  /** Called once the runs asked for so far are done; most tasks have none (a storm queues many). */
  waiters: (() => void)[] | undefined;
  /** The answer to the probe's read of /3/0, for the interrogation that follows it. */
  probed: ProbeAnswer | undefined;
  /** The quick first probe went unanswered; this is the second, with a longer deadline. */
  reprobe: boolean;
}

/** Devices remembered as answering; past it the oldest quarter is forgotten (and probed again). */
const MAX_ANSWERING = 1_000_000;
/** Devices due for another probe that one sweep takes up. */
const SWEEP_LIMIT = 10_000;

/**
 * Decides when each device is interrogated: devices known to answer in the main lane, the others
 * probed first in a lane of their own, silent ones backed off and swept up again once it ends.
 *
 * A probe or interrogation does not wait for a queue-mode device that is asleep by its turn (its
 * listening window may pass while it waits in a registration storm): its request ends at once
 * (`waitsForWake: false`), and the device is asked again at its next Update, which would call for
 * an interrogation anyway. So it holds no read slot and no place in the device's queue for the
 * hours such a device may sleep; while it waits its turn behind other requests to a device that
 * listens, its slot is lent out.
 */
export class InterrogationScheduler {
  readonly #ctx: SyncContext;
  readonly #reads: Limiter;
  readonly #interrogator: Interrogator;
  readonly #tasks = new Map<string, Task>();
  /** Devices whose interrogation got no answer: tried again once their backoff ended. */
  readonly #retry = new Set<string>();
  /**
   * Devices that answered a request and have not been silent since: interrogated in the main lane.
   * The others are probed first, in a lane of their own.
   */
  readonly #answering = new Set<string>();
  readonly #backoff: SilenceBackoff;
  readonly #probeTimeoutMs: number;
  readonly #sweep: NodeJS.Timeout | undefined;

  constructor(
    ctx: SyncContext,
    reads: Limiter,
    interrogator: Interrogator,
    opts: InterrogationSchedulerOptions,
  ) {
    this.#ctx = ctx;
    this.#reads = reads;
    this.#interrogator = interrogator;
    this.#probeTimeoutMs = opts.probeTimeoutMs;
    this.#backoff = new SilenceBackoff({
      clock: ctx.clock,
      firstDelayMs: opts.silenceBackoffMs,
      maxDelayMs: opts.maxSilenceBackoffMs,
    });
    if (opts.backoffSweepMs > 0) {
      this.#sweep = setInterval(() => ctx.guard('sweep', () => this.#probeDue()), opts.backoffSweepMs);
      this.#sweep.unref();
    }
  }

  /** Devices that did not answer, waiting out their backoff or due for another probe. */
  get backedOff(): number {
    return this.#backoff.size;
  }

  stop(): void {
    clearInterval(this.#sweep);
  }

  /** Asks for an interrogation of `endpoint` (one more run when one is running). */
  interrogate(endpoint: string, full: boolean): void {
    this.#task(endpoint, full);
  }

  /** Resolves once the interrogation asked for now has run. */
  interrogated(endpoint: string, full: boolean): Promise<void> {
    const task = this.#task(endpoint, full);
    return new Promise((resolve) => {
      task.waiters ??= [];
      task.waiters.push(resolve);
    });
  }

  /** Whether the device was silent when last asked and still owes an answer. */
  awaitsRetry(endpoint: string): boolean {
    return this.#retry.has(endpoint);
  }

  /** Interrogates the device later: at its next Update, or when a sweep finds its backoff over. */
  retryLater(endpoint: string): void {
    this.#retry.add(endpoint);
  }

  /** False while the device waits out a silence. */
  mayTry(endpoint: string): boolean {
    return this.#backoff.mayTry(endpoint);
  }

  /** The registration ended: nothing to retry; one that expired may not answer any more. */
  registrationEnded(endpoint: string, expired: boolean): void {
    this.#retry.delete(endpoint);
    this.#backoff.forget(endpoint);
    // A device that de-registers (to reboot, say) is still one that answers; one that expired may not be.
    if (expired) this.#answering.delete(endpoint);
  }

  rememberAnswering(endpoint: string): void {
    if (this.#answering.size >= MAX_ANSWERING && !this.#answering.has(endpoint)) {
      let evict = MAX_ANSWERING / 4;
      for (const known of this.#answering) {
        this.#answering.delete(known);
        if (--evict === 0) break;
      }
    }
    this.#answering.add(endpoint);
  }

  #task(endpoint: string, full: boolean): Task {
    const existing = this.#tasks.get(endpoint);
    if (existing !== undefined) {
      existing.full ||= full;
      if (existing.phase === 'running') existing.phase = 'again';
      return existing;
    }
    const task: Task = { phase: 'queued', full, waiters: undefined, probed: undefined, reprobe: false };
    this.#tasks.set(endpoint, task);
    this.#schedule(endpoint, task);
    return task;
  }

  /**
   * Devices known to answer are interrogated in the main lane; the others are probed first in a
   * lane of their own, so that registrations that never answer cannot hold the main lane's slots.
   */
  #schedule(endpoint: string, task: Task): void {
    if (this.#answering.has(endpoint)) {
      this.#reads.start((slot) => this.#run(endpoint, task, slot), 'background');
    } else {
      const again = this.#backoff.failures(endpoint) > 0;
      this.#reads.start((slot) => this.#probe(endpoint, task, slot), again ? 'probe-retry' : 'probe');
    }
  }

  /**
   * One read of /3/0 with a short deadline: a device that answers it (with anything) goes on to
   * the main lane with the answer; a silent one is backed off.
   */
  async #probe(endpoint: string, task: Task, slot: LimiterSlot): Promise<void> {
    const ctx = this.#ctx;
    task.phase = 'running';
    const reg = ctx.server.registration(endpoint);
    if (reg === undefined || ctx.stopped) return this.#settled(endpoint, task);
    const reprobe = task.reprobe;
    task.reprobe = false;
    const silences = this.#backoff.failures(endpoint) + (reprobe ? 1 : 0);
    let answer: ReadResult;
    try {
      answer = await ctx.server
        .device(endpoint, awakeOnly(slot))
        .read('/3/0', { timeoutMs: this.#probeTimeoutMs * 2 ** Math.min(silences, 4) });
    } catch (err) {
      ctx.log.error({ err, endpoint }, 'probing a device failed');
      return this.#settled(endpoint, task);
    }
    if (ctx.stopped) return this.#settled(endpoint, task);
    if (isAsleep(answer)) {
      this.#asleep(endpoint, true);
      return this.#settled(endpoint, task);
    }
    if (answer.kind !== 'ok' && isSilence(answer)) {
      if (ctx.server.registration(endpoint)?.id !== reg.id) return this.#settled(endpoint, task);
      if (silences === 0) {
        // One datagram lost, or an event loop stalled past the short deadline (an embedded
        // database's long statement), must not cost a device that answers a minute: a second
        // probe, with twice the deadline, after the first probes of other devices.
        task.reprobe = true;
        task.phase = 'queued';
        this.#reads.start((next) => this.#probe(endpoint, task, next), 'probe-retry');
        return;
      }
      this.#noAnswer(endpoint, answer);
      return this.#settled(endpoint, task);
    }
    this.rememberAnswering(endpoint);
    this.#backoff.forget(endpoint);
    task.probed =
      ctx.server.registration(endpoint)?.id === reg.id
        ? { answer, at: ctx.clock(), registrationId: reg.id }
        : undefined;
    task.phase = 'queued';
    this.#reads.start((next) => this.#run(endpoint, task, next), 'background');
  }

  async #run(endpoint: string, task: Task, slot: LimiterSlot): Promise<void> {
    task.phase = 'running';
    const full = task.full;
    task.full = false;
    const probed = task.probed;
    task.probed = undefined;
    try {
      const outcome = await this.#interrogator.interrogate(endpoint, full, probed, awakeOnly(slot));
      this.#apply(endpoint, outcome, full);
    } catch (err) {
      this.#ctx.log.error({ err, endpoint }, 'interrogating a device failed');
    }
    this.#settled(endpoint, task);
  }

  #apply(endpoint: string, outcome: InterrogationOutcome, full: boolean): void {
    if (outcome.kind === 'silent') {
      if (isAsleep(outcome.failure)) this.#asleep(endpoint, full);
      else this.#noAnswer(endpoint, outcome.failure);
    } else if (outcome.kind === 'answered') {
      this.#retry.delete(endpoint);
      this.#backoff.forget(endpoint);
      this.rememberAnswering(endpoint);
    }
  }

  /** After a run or a probe: runs again if asked to meanwhile, or ends the task. */
  #settled(endpoint: string, task: Task): void {
    // The phase may have moved to 'again' while the run awaited.
    if (task.phase === 'again' && !this.#ctx.stopped) {
      task.phase = 'queued';
      this.#schedule(endpoint, task);
      return;
    }
    this.#tasks.delete(endpoint);
    for (const resolve of task.waiters ?? []) resolve();
  }

  /** Probes again the devices whose wait after a silence is over (not asleep queue-mode ones). */
  #probeDue(): void {
    for (const endpoint of this.#backoff.takeDue(SWEEP_LIMIT)) {
      const reg = this.#ctx.server.registration(endpoint);
      if (reg === undefined) {
        this.#backoff.forget(endpoint);
        this.#retry.delete(endpoint);
      } else if (!reg.queueMode && this.#retry.has(endpoint)) this.#task(endpoint, true);
    }
  }

  /**
   * A queue-mode device was asleep by the time its probe or interrogation was sent: it is asked
   * again at its next Update, in full if `full` (an Update interrogates a device whose firmware
   * is not observed anyway). Not a silence: no backoff, and it is still known to answer.
   */
  #asleep(endpoint: string, full: boolean): void {
    if (full) this.#retry.add(endpoint);
    this.#ctx.log.debug({ endpoint }, 'queue-mode device asleep; asking again at its next Update');
  }

  /** The device did not answer: probed first next time, and not before its backoff ends. */
  #noAnswer(endpoint: string, failure: Failure): void {
    this.#answering.delete(endpoint);
    const retryAt = this.#backoff.silent(endpoint);
    this.#retry.add(endpoint);
    this.#ctx.log.debug(
      { endpoint, failure, retryAt: new Date(retryAt).toISOString() },
      'device did not answer; asking again once its backoff ends',
    );
  }
}

/**
 * A probe's or an interrogation's requests: its read slot is lent out while a request waits its
 * turn, and none waits for a sleeping device to wake (see InterrogationScheduler).
 */
function awakeOnly(slot: LimiterSlot): RequestGate {
  return { release: () => slot.release(), reacquire: () => slot.reacquire(), waitsForWake: false };
}
