/**
 * A minimal Chrome DevTools Protocol driver for bench/web.ts. Playwright enables the
 * Network domain on every page and worker, and Chromium then copies every WebSocket frame
 * (base64) to the driver: with an upload's ~3.3x share traffic that costs CPU and holds
 * hundreds of MB in the browser process, which would be measured as the app's. This driver
 * uses only Target, Runtime, DOM, Browser and SystemInfo, so the browser runs as a user's would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import WebSocket from 'ws';

type Params = Record<string, unknown>;

export class Cdp {
  #ws: WebSocket;
  #id = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #listeners = new Set<(method: string, params: Params, sessionId?: string) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: Params;
        sessionId?: string;
      };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method) {
        for (const l of this.#listeners) l(msg.method, msg.params ?? {}, msg.sessionId);
      }
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Cdp(ws);
  }

  send<T = Params>(method: string, params: Params = {}, sessionId?: string): Promise<T> {
    const id = this.#id++;
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
  }

  on(fn: (method: string, params: Params, sessionId?: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  close(): void {
    this.#ws.close();
  }
}

export interface LaunchedChromium {
  cdp: Cdp;
  process: ChildProcess;
  close(): Promise<void>;
}

export async function launchChromium(executable: string, userDataDir: string): Promise<LaunchedChromium> {
  const child = spawn(
    executable,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--remote-debugging-port=0',
      `--user-data-dir=${userDataDir}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start:\n${err}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`Chromium exited with ${code}:\n${err}`)));
  });
  const cdp = await Cdp.connect(url);
  return {
    cdp,
    process: child,
    async close() {
      cdp.close();
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A page (tab) driven through a flat CDP session. */
export class CdpPage {
  private constructor(
    readonly cdp: Cdp,
    readonly sessionId: string,
    readonly targetId: string,
  ) {}

  static async open(cdp: Cdp, url: string): Promise<CdpPage> {
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    return new CdpPage(cdp, sessionId, targetId);
  }

  /**
   * Opens a page at `url` and waits until it has loaded there: a new target is a complete
   * about:blank until its navigation commits, and what runs in it meanwhile runs there.
   */
  static async load(cdp: Cdp, url: string): Promise<CdpPage> {
    const page = await CdpPage.open(cdp, url);
    const origin = JSON.stringify(new URL(url).origin);
    try {
      await page.waitFor(`location.origin === ${origin} && document.readyState === 'complete'`, 30_000);
    } catch (err) {
      await cdp.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
      throw err;
    }
    return page;
  }

  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.cdp.send<{ result: { value?: T }; exceptionDetails?: { text: string } }>(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true, userGesture: true },
      this.sessionId,
    );
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.text} in ${expression.slice(0, 80)}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it returns a truthy value. */
  async waitFor<T>(expression: string, timeoutMs: number, everyMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.evaluate<T>(expression);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression.slice(0, 80)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  async setInputFiles(selector: string, files: string[]): Promise<void> {
    const { root } = await this.cdp.send<{ root: { nodeId: number } }>('DOM.getDocument', {}, this.sessionId);
    const { nodeId } = await this.cdp.send<{ nodeId: number }>(
      'DOM.querySelector',
      { nodeId: root.nodeId, selector },
      this.sessionId,
    );
    if (!nodeId) throw new Error(`no element matches ${selector}`);
    await this.cdp.send('DOM.setFileInputFiles', { nodeId, files }, this.sessionId);
  }
}
