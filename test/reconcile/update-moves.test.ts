import { describe, expect, it } from 'vitest';
import type { ActiveUpdate } from '../../controller/reconcile/plan/observation.js';
import { planUpdate, type UpdateIntent } from '../../controller/reconcile/plan/plan-update.js';
import type { DeviceOps, FirmwareReport } from '../../controller/reconcile/write/device-ops.js';
import { type ExecutorDeps, runSteps, splitWork } from '../../controller/reconcile/write/executor.js';
import type { UpdateTransitions } from '../../controller/reconcile/write/transition-writer.js';
import type { Transition } from '../../controller/reconcile/write/update-store.js';
import {
  ACTIVE_PHASES,
  ALL_UPDATE_MOVES,
  checkMove,
  IllegalMoveError,
  isLegalMove,
  phasesBefore,
  UPDATE_PHASES,
} from '../../controller/store/index.js';
import { activeUpdate, T0 } from '../helpers/active-update.js';

describe('the table of update moves', () => {
  it('starts every move from an active phase and leads to a phase the code defines', () => {
    for (const move of ALL_UPDATE_MOVES) {
      expect(ACTIVE_PHASES).toContain(move.from);
      expect(UPDATE_PHASES).toContain(move.to);
    }
  });

  it('gives the executor the from-phases it always used', () => {
    expect(phasesBefore('downloading', 'PackageUriWritten')).toEqual(['pending']);
    expect(phasesBefore('pending', 'PackageUriRefused')).toEqual(['pending']);
    expect(phasesBefore('pending', 'DeviceReset')).toEqual(['pending']);
    expect(phasesBefore('downloaded', 'DownloadCompleted')).toEqual(['downloading']);
    expect(phasesBefore('updating', 'UpdateExecuted')).toEqual(['downloaded']);
    expect(phasesBefore('downloaded', 'UpdateExecuteNotSent')).toEqual(['updating']);
    expect(phasesBefore('downloaded', 'UpdateRearmed')).toEqual(['updating']);
    expect(phasesBefore('downloading', 'UpdateExecuteRefused')).toEqual(['updating']);
    expect(phasesBefore('cancelling', 'UpdateCancelling')).toEqual(['downloading', 'downloaded']);
  });

  it('refuses a move it lacks, at compile time and at run time', () => {
    // @ts-expect-error: no move writes PackageUriWritten on the way to updating
    expect(() => phasesBefore('updating', 'PackageUriWritten')).toThrow(IllegalMoveError);
    // @ts-expect-error: nothing moves back to pending from another phase's event
    expect(() => phasesBefore('pending', 'UpdateExecuted')).toThrow(IllegalMoveError);
    expect(() => checkMove(['pending'], 'updating', 'UpdateExecuted')).toThrow(IllegalMoveError);
    expect(() => checkMove(['updating'], 'cancelling', 'UpdateCancelling')).toThrow(IllegalMoveError);
    expect(() => checkMove(['cancelling'], 'failed', 'UpdateFailed')).toThrow(IllegalMoveError);
    expect(() => checkMove(['downloading', 'updating'], 'downloaded', 'DownloadCompleted')).toThrow(
      /from updating to downloaded/,
    );
    expect(() => checkMove([], 'failed', 'UpdateFailed')).toThrow(IllegalMoveError);
    expect(() => checkMove(['downloading', 'downloaded'], 'cancelling', 'UpdateCancelling')).not.toThrow();
    expect(isLegalMove('succeeded', 'failed', 'UpdateFailed')).toBe(false);
  });
});

const QUIET = 100;

const ok = { kind: 'ok', code: '2.04' } as const;
const error = (code: string) => ({ kind: 'error', code, message: undefined }) as const;
const timeout = { kind: 'timeout' } as const;
const unreachable = { kind: 'unreachable', reason: 'not registered' } as const;

type Answer = Awaited<ReturnType<DeviceOps['writePackageUri']>>;

interface Answers {
  readonly write: Answer;
  readonly cancel: Answer;
  readonly execute: Answer;
  readonly read: FirmwareReport | undefined;
}

function ops(answers: Answers): DeviceOps {
  return {
    writePackageUri: async () => answers.write,
    executeUpdate: async () => answers.execute,
    cancelUpdate: async () => answers.cancel,
    pollFirmwareState: async () => answers.read,
    readFirmwareVersion: async () => {},
    readErrorCode: async () => {},
  };
}

/** Moves as the table spells them, `from>to:event`, one for each phase a transition starts from. */
const key = (from: string, to: string, event: string) => `${from}>${to}:${event}`;

class RecordingTransitions implements UpdateTransitions {
  readonly moves = new Set<string>();
  async move(t: Transition): Promise<boolean> {
    for (const from of t.from) this.moves.add(key(from, t.phase, t.event.type));
    return true;
  }
}

/** Every mix of what the planner looks at; in pending, a write that got no answer is uriWrittenAt. */
function* updates(): Generator<ActiveUpdate> {
  const reportTimes = [null, T0 - 1100, T0 - 500];
  for (const phase of ACTIVE_PHASES)
    for (const fwState of [null, 0, 1, 2, 3])
      for (const fwResult of [0, 1, 4, 8, 10, 99])
        for (const fwReportedAt of reportTimes)
          for (const registeredAt of [T0 - 2000, T0 - 300])
            for (const firmwareVersion of ['1.0.0', '2.0.0'])
              for (const expired of [false, true])
                for (const resetAt of phase === 'pending' ? [null, T0 - 950] : [null])
                  for (const uriWrittenAt of phase === 'pending' ? [null, T0 - 900] : [T0 - 900])
                    for (const health of phase === 'verifying' ? BAKE_HEALTH : [BAKE_HEALTH[0]!]) {
                      yield activeUpdate(
                        {
                          phase,
                          createdAt: T0 - 1000,
                          phaseChangedAt: T0 - 1000,
                          deadlineAt: expired ? T0 - 1 : T0 + 10_000,
                          uriWrittenAt,
                          executedAt: phase === 'updating' ? T0 - 800 : null,
                          resetAt,
                          bakeUntil: phase === 'verifying' ? (expired ? T0 - 1 : T0 + 10_000) : null,
                          bakeRegistrations: phase === 'verifying' ? 1 : null,
                        },
                        {
                          registeredAt,
                          firmwareVersion,
                          infoReadAt: T0 - 200,
                          fwState,
                          fwResult,
                          fwReportedAt,
                          registrations: health.registrations,
                          lastSeenAt: T0 - 100,
                          errorCode: health.errorCode,
                          errorCodeReadAt: T0 - 100,
                        },
                      );
                    }
}

/** A device in its bake: healthy, rebooted since the bake began, or reporting an error code. */
const BAKE_HEALTH = [
  { registrations: 1, errorCode: 0 },
  { registrations: 3, errorCode: 0 },
  { registrations: 1, errorCode: 5 },
] as const;

const INTENTS: (UpdateIntent | undefined)[] = [
  { targetVersion: '2.0.0', executeAllowed: true },
  {
    targetVersion: '2.0.0',
    executeAllowed: true,
    verify: { bakeMs: 60_000, maxReboots: 0, errorCodes: 'watch' },
  },
  { targetVersion: '2.0.0', executeAllowed: false },
  { targetVersion: '3.0.0', executeAllowed: true },
  { targetVersion: '2.0.0', executeAllowed: true, withdrawReason: 'rollout aborted' },
  undefined,
];

describe('the executor', () => {
  it('makes only moves of the table, and every move of the table is one it makes', async () => {
    const transitions = new RecordingTransitions();
    // What the executor does depends on the update's phase, its steps, whether it was reset, and
    // the device's answers: run each distinct plan once with every mix of answers.
    const plans = new Map<string, { update: ActiveUpdate; intent: UpdateIntent | undefined }>();
    for (const update of updates()) {
      for (const intent of INTENTS) {
        const decision = planUpdate(update, { now: T0, intent, pollQuietMs: QUIET });
        const steps = decision.actions.map((a) =>
          a.kind === 'finish' ? `finish:${JSON.stringify(a.outcome)}` : a.kind,
        );
        plans.set(
          `${update.phase}|${update.resetAt !== null}|${update.uriWrittenAt !== null}|${steps.join(',')}`,
          { update, intent },
        );
      }
    }
    const answers = [
      ok,
      error('4.00'),
      error('4.04'),
      error('4.05'),
      error('4.06'),
      error('5.03'),
      timeout,
      unreachable,
    ];
    for (const { update, intent } of plans.values()) {
      for (const canCancel of [true, false])
        for (const uriOk of [true, false])
          for (const write of answers)
            for (const cancel of [ok, error('4.04'), error('4.00'), timeout])
              for (const execute of [ok, error('4.00'), error('4.05'), unreachable, timeout])
                for (const read of [
                  { state: 0, result: 0 },
                  { state: 1, result: 0 },
                  { state: 2, result: 0 },
                  undefined,
                ]) {
                  const subject = { ...update, device: { ...update.device, canCancel } };
                  const deps: ExecutorDeps = {
                    db: undefined as never,
                    ops: ops({ write, cancel, execute, read }),
                    packageUri: () =>
                      uriOk
                        ? { ok: true, uri: 'coap://fw/2.0.0' }
                        : { ok: false, reason: 'none', permanent: true },
                    clock: () => T0,
                    timeoutsOf: () => ({ downloadMs: 60_000, updateMs: 60_000 }),
                  };
                  const decision = planUpdate(subject, { now: T0, intent, pollQuietMs: QUIET });
                  const work = splitWork(decision.actions);
                  if (await runSteps(deps, transitions, work.database))
                    await runSteps(deps, transitions, work.device);
                }
    }
    const made = [...transitions.moves].sort();
    const table = ALL_UPDATE_MOVES.map((m) => key(m.from, m.to, m.event)).sort();
    expect(made.filter((m) => !table.includes(m))).toEqual([]);
    expect(table.filter((m) => !made.includes(m))).toEqual([]);
  });
});
