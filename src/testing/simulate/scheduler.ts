/**
 * The simulator's scheduler: virtual time, processes and the gates their calls pass
 * through. Every ledger call and every sink call a simulated process makes is a gate: a
 * pending operation that runs only when the scheduler picks it, alone, to completion.
 * Between two picks the processes run their own code until each waits at a gate or on a
 * virtual timer, so one seed gives one interleaving, byte for byte.
 *
 * A crash ends an incarnation: its pending gates and timers are dropped, and a call it
 * makes later never returns (its memory is gone; the ledger and the sinks keep what was
 * done). A pause stops a process's gates and timers (its claims are not renewed) until it
 * resumes. Nothing here uses a real timer.
 *
 * @module
 */

/** What a simulated process does. */
export type ProcessKind = "producer" | "deliverer" | "reconciler";

/** A fault the scheduler puts on the one operation it runs. */
export type OpFault = "fail" | "ambiguous" | "hang" | "drop" | "duplicate" | "corrupt";

/** One life of a process: what a crash ends. */
export class Incarnation {
  alive = true;
  readonly process: SimProcess;
  readonly n: number;

  constructor(process: SimProcess, n: number) {
    this.process = process;
    this.n = n;
  }

  /** `producer-1#2`: the process and which life. */
  get label(): string {
    return `${this.process.name}#${this.n}`;
  }
}

/** A simulated process: its body runs once per incarnation. */
export class SimProcess {
  readonly name: string;
  readonly kind: ProcessKind;
  readonly body: (life: Incarnation) => Promise<void>;
  life: Incarnation;
  paused = false;
  /** When a pause ends (virtual ms). */
  resumeAt = 0;
  /** When a crashed process starts again (virtual ms); undefined while it lives. */
  restartAt: number | undefined;
  /** Its clock's offset from virtual time, ms (skew and jumps). */
  skewMs = 0;
  /** Its body returned: nothing left to do. */
  finished = false;

  constructor(name: string, kind: ProcessKind, body: (life: Incarnation) => Promise<void>) {
    this.name = name;
    this.kind = kind;
    this.body = body;
    this.life = new Incarnation(this, 0);
    this.life.alive = false;
  }
}

/** A pending operation of a process. */
export interface Gate {
  readonly life: Incarnation;
  /** `ledger` or the sink's name. */
  readonly target: string;
  readonly method: string;
  /** Runs the operation (with the fault the scheduler drew for it, if any). */
  readonly run: (fault: OpFault | undefined) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** Set when a hang fault holds it: it is never run, its process waits until it crashes. */
  hung: boolean;
}

interface Timer {
  readonly life: Incarnation;
  due: number;
  readonly every: number | undefined;
  readonly fire: () => void;
  cleared: boolean;
  readonly order: number;
}

/** A promise that never settles: what a call of a dead incarnation gets. */
const NEVER: Promise<never> = new Promise(() => undefined);

/** Virtual time, gates and timers; the simulator's loop drives it step by step. */
export class Scheduler {
  /** Virtual ms since the epoch. */
  now: number;
  readonly pending: Gate[] = [];
  readonly #timers: Timer[] = [];
  #order = 0;

  constructor(start: number) {
    this.now = start;
  }

  /**
   * Queues an operation of `life`; resolves with what it returns once the scheduler has
   * run it. A dead incarnation's call never returns.
   */
  gate<T>(
    life: Incarnation,
    target: string,
    method: string,
    run: (fault: OpFault | undefined) => Promise<T> | T,
  ): Promise<T> {
    if (!life.alive) return NEVER;
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        life,
        target,
        method,
        run: async (fault) => run(fault),
        resolve: resolve as (value: unknown) => void,
        reject,
        hung: false,
      });
    });
  }

  /** The gates that may run now: their process lives and is not paused. */
  runnable(): Gate[] {
    return this.pending.filter((g) => g.life.alive && !g.life.process.paused && !g.hung);
  }

  /** Takes a gate out of the queue (it is about to run). */
  take(gate: Gate): void {
    const i = this.pending.indexOf(gate);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /** Virtual sleep of `life`: resolves `ms` later, or rejects with the signal's reason. */
  sleep(life: Incarnation, ms: number, signal?: AbortSignal): Promise<void> {
    if (!life.alive) return NEVER;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let timer: Timer | undefined;
      const onAbort = () => {
        if (timer !== undefined) timer.cleared = true;
        reject(signal?.reason);
      };
      timer = this.#add(life, Math.max(0, ms), undefined, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** A virtual interval timer of `life` (for the guard's `timers` option). */
  setInterval(life: Incarnation, tick: () => void, ms: number): unknown {
    return this.#add(life, Math.max(1, ms), Math.max(1, ms), tick);
  }

  clearInterval(handle: unknown): void {
    if (handle !== null && typeof handle === "object" && "cleared" in handle)
      (handle as Timer).cleared = true;
  }

  #add(life: Incarnation, ms: number, every: number | undefined, fire: () => void): Timer {
    const timer: Timer = {
      life,
      due: this.now + ms,
      every,
      fire,
      cleared: false,
      order: this.#order++,
    };
    if (life.alive) this.#timers.push(timer);
    return timer;
  }

  /**
   * Fires every timer due by now whose process lives and is not paused, in due order.
   * Returns how many fired.
   */
  fireDue(): number {
    let fired = 0;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (t.cleared || !t.life.alive || t.life.process.paused || t.due > this.now) continue;
        if (next === undefined || t.due < next.due || (t.due === next.due && t.order < next.order))
          next = t;
      }
      if (next === undefined) break;
      if (next.every === undefined) next.cleared = true;
      else next.due = Math.max(next.due + next.every, this.now + 1);
      fired++;
      next.fire();
      if (fired > 10_000) break; // a timer that reschedules itself at once cannot spin the loop
    }
    this.#prune();
    return fired;
  }

  /** When the next timer of a running process is due; undefined when none. */
  nextDue(): number | undefined {
    let due: number | undefined;
    for (const t of this.#timers) {
      if (t.cleared || !t.life.alive || t.life.process.paused) continue;
      if (due === undefined || t.due < due) due = t.due;
    }
    return due;
  }

  /** Ends `life`: its gates and timers are dropped, its later calls never return. */
  kill(life: Incarnation): void {
    life.alive = false;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if ((this.pending[i] as Gate).life === life) this.pending.splice(i, 1);
    }
    this.#prune();
  }

  #prune(): void {
    for (let i = this.#timers.length - 1; i >= 0; i--) {
      const t = this.#timers[i] as Timer;
      if (t.cleared || !t.life.alive) this.#timers.splice(i, 1);
    }
  }
}

/** Lets every process run until it waits again: all microtasks, then one macrotask turn. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
