import type { TransferProgress } from '../adapters/agent-client/port.ts';

export interface TransferHandle {
  progress(bytes: number): void;
  end(): void;
}

export interface TransferInfo extends TransferProgress {
  id: number;
  kind: 'receive' | 'send' | 'push';
  migrationId: string;
}

/**
 * Counts running transfers against the concurrency limit and exposes their progress (GET /v1/transfers).
 *
 * @example
 * ```ts
 * if (!transfers.tryAcquire()) throw tooMany(limit);
 * ```
 */
export class Transfers {
  private next = 1;
  private slots = 0;
  private readonly active = new Map<number, TransferInfo>();
  constructor(private readonly limit: number) {}

  tryAcquire(): boolean {
    if (this.slots >= this.limit) return false;
    this.slots++;
    return true;
  }
  release(): void {
    this.slots = Math.max(0, this.slots - 1);
  }
  begin(kind: TransferInfo['kind'], migrationId: string, bytesTotal: number): TransferHandle {
    const info: TransferInfo = { id: this.next++, kind, migrationId, bytesTransferred: 0, bytesTotal };
    this.active.set(info.id, info);
    return {
      progress: (n) => {
        info.bytesTransferred = n;
      },
      end: () => {
        this.active.delete(info.id);
      },
    };
  }
  list(): TransferInfo[] {
    return [...this.active.values()];
  }
  get running(): number {
    return this.slots;
  }
}
