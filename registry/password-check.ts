import { createHash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// bcrypt takes ~80 ms of CPU per check by design. Done on the event loop, a few clients
// sending wrong passwords stall every other request (measured: 11 ms → 0.7 s), so checks
// run on one worker thread and the loop stays free. The worker is plain JS given as a
// string, so it works the same from the TypeScript sources (tests) and from dist/.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcrypt);
parentPort.on('message', ({ id, pass, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(pass, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

/** A bcrypt hash of a random password at cost 10, compared against for unknown users so they take as long as known ones. */
const DUMMY = '$2b$10$NwsD1O0Ly3TSLGtc0wDdC.3Cz9ZH9z0T88F7sYTh2evY6rFcix6h.';

/** Checks passwords against htpasswd entries off the event loop; remembers recent successes only. */
export class PasswordChecker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #waiting = new Map<number, (ok: boolean) => void>();
  /** Recent successful checks (user\0sha256(password) → stored entry), at most 1,000, oldest dropped. */
  readonly #ok = new Map<string, string>();
  /** bcrypt comparisons run so far (tests read it). */
  bcryptRuns = 0;

  /** Successful checks remembered now (failures never are). */
  get remembered(): number { return this.#ok.size; }

  /** True when `pass` matches `stored` (bcrypt, {SHA} or plain:); `stored` undefined for an unknown user (still takes a bcrypt's time). */
  async check(user: string, pass: string, stored: string | undefined): Promise<boolean> {
    const key = `${user}\0${createHash('sha256').update(pass).digest('hex')}`;
    if (stored !== undefined && this.#ok.get(key) === stored) return true;
    let ok: boolean;
    if (stored === undefined) {
      await this.#bcrypt(pass, DUMMY);
      ok = false;
    } else if (stored.startsWith('plain:')) {
      ok = safeEqual(stored.slice(6), pass);
    } else if (/^\$2[aby]\$/.test(stored)) {
      ok = await this.#bcrypt(pass, stored.replace(/^\$2y\$/, '$2b$'));
    } else if (stored.startsWith('{SHA}')) {
      ok = safeEqual(createHash('sha1').update(pass).digest('base64'), stored.slice(5));
    } else {
      ok = false;
    }
    if (ok) {
      this.#ok.delete(key);
      this.#ok.set(key, stored!);
      if (this.#ok.size > 1000) this.#ok.delete(this.#ok.keys().next().value!);
    }
    return ok;
  }

  #bcrypt(pass: string, hash: string): Promise<boolean> {
    if (!this.#worker) {
      const bcrypt = createRequire(import.meta.url).resolve('bcryptjs');
      this.#worker = new Worker(WORKER, { eval: true, workerData: { bcrypt } });
      this.#worker.unref();
      this.#worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
        this.#waiting.get(id)?.(ok);
        this.#waiting.delete(id);
      });
      this.#worker.on('error', () => {
        for (const done of this.#waiting.values()) done(false);
        this.#waiting.clear();
        this.#worker = undefined;
      });
    }
    const id = this.#next++;
    this.bcryptRuns++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#worker!.postMessage({ id, pass, hash });
    });
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
    this.#worker = undefined;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
