// When the server process dies, restart it — but not forever: a server that
// crashes on start-up would otherwise restart in a tight loop.

export class RestartPolicy {
  private restarts: number[] = [];

  constructor(
    private readonly maxRestarts = 5,
    private readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a crash; true when the server should be restarted. */
  shouldRestart(): boolean {
    const now = this.now();
    this.restarts = this.restarts.filter((time) => now - time < this.windowMs);
    if (this.restarts.length >= this.maxRestarts) {
      return false;
    }
    this.restarts.push(now);
    return true;
  }

  /** Forgets past crashes (a restart the user asked for starts afresh). */
  reset(): void {
    this.restarts = [];
  }
}
