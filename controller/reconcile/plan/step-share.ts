/**
 * How many devices a canary step may start, counted rather than ranked: the updates started for
 * the current target (in flight or finished) never exceed the step's share of the group's
 * members. Devices that join later fill the share only while there is room, in canary order, so a
 * fleet registering while a step runs cannot push it past its share (a rank window could: a late
 * joiner ranked ahead of the canaries already started was admitted on top of them).
 */

/** What the read gives about the group and the current target, for the step figures. */
export interface ShareFigures {
  /** Members of the group (devices read, matching the selector). */
  readonly members: number;
  /** Members whose update to the current target started: in flight or finished. */
  readonly started: number;
  /** Of those, the ones not finished that can still move (in flight, retry due or waiting). */
  readonly startedUnfinished: number;
  /** Members not started that can start now or later (eligible, or busy with something else). */
  readonly waiting: number;
  /** Registered devices of the group not read yet, still within their wait: they hold the step. */
  readonly unread: number;
}

export interface StepShare {
  /** ceil(percent × members / 100): the most devices the step has started, ever. */
  readonly admitted: number;
  /** How many more devices the step may start. */
  readonly room: number;
  /** The first `reserved` waiting devices in canary order are the step's to start. */
  readonly reserved: number;
  /** Devices the step still waits for before it is done. */
  readonly unfinished: number;
}

/** How many devices a cumulative share admits out of `members` (exact for shares like 33.3%). */
export function admittedBy(percent: number, members: number): number {
  // percent × members is rounded to 6 decimals first: 33.3 × 1000 is 33300.000000000004 in floats.
  return Math.ceil(Math.round(percent * members * 1e6) / 1e8);
}

/** The figures of one step of `percent`. Pure. */
export function stepShare(percent: number, figures: ShareFigures): StepShare {
  const admitted = admittedBy(percent, figures.members);
  const room = Math.max(0, admitted - figures.started);
  const reserved = Math.min(room, figures.waiting);
  return {
    admitted,
    room,
    reserved,
    unfinished: figures.startedUnfinished + reserved + figures.unread,
  };
}

/**
 * Whether a step is done: it admits some device (a step of an empty group has not happened, or its
 * pause would start while devices are still registering) and waits for none.
 */
export function stepDone(share: StepShare): boolean {
  return share.admitted > 0 && share.unfinished === 0;
}
