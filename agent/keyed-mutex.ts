/**
 * One async critical section per key: `run(key, fn)` starts `fn` only after every earlier `run` with the same key
 * has settled (FIFO); different keys run in parallel. Idle keys are dropped, so the map only holds keys in use.
 * In-process only: the agent is the single writer of its store.
 *
 * @example
 * ```ts
 * const locks = new KeyedMutex();
 * await locks.run(sha256, async () => commitAndLoad(sha256));
 * ```
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a running or waiting critical section (tests, diagnostics). */
  get busy(): number {
    return this.tails.size;
  }
}
