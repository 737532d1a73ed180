import { watch } from 'node:fs';
import type { TestContext } from 'node:test';

/**
 * What a test waits on, as events: every step it sees (a request starting, answered or closed; an acknowledgement; a
 * file changing in a folder it watches) is counted and wakes the waits, which then look again. Nothing is looked at on
 * a timer; a wait that never holds is ended by the test runner's timeout, which names the test.
 */
export class Steps {
  count = 0;
  #waiters = new Set<() => void>();

  step(): void {
    this.count += 1;
    const waiting = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Watches a folder: a file made, changed or removed in it is a step (a temp file gone, a database written). */
  watch(t: TestContext, dir: string): void {
    const watcher = watch(dir, () => this.step());
    t.after(() => watcher.close());
  }

  /** Until `probe` holds (`_what` names it for the reader), looked at after every step. */
  async until(_what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
    for (;;) {
      // Registered before the look, so a step during an asynchronous probe is not missed.
      const next = new Promise<void>((wake) => this.#waiters.add(wake));
      // A probe may race the node it looks at (a temp file gone between listing and stat): that is a "not yet".
      if (await (async () => probe())().catch(() => false)) return;
      await next;
    }
  }

  /** Until a random step from the next to `within` steps on (where a kill falls), or `holds` (the work ended first). */
  randomStep(within: number, holds: () => boolean | Promise<boolean>): Promise<void> {
    const at = this.count + 1 + Math.floor(Math.random() * within);
    return this.until('the step the kill falls at', async () => this.count >= at || (await holds()));
  }
}
