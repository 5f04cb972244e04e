import { Code, ConnectError } from "@connectrpc/connect";
import type { Function as FunctionMessage, HealthResponse } from "../../gen/faas/v1/agent_pb.ts";
import { createAgentClient, type AgentClient } from "./api.ts";

/** How often the function list and the health badge refresh, in milliseconds. */
export const REFRESH_MS = 2000;

/**
 * What the page knows about the agent after the last refresh. `token-required` means Health
 * answered (it never needs a token) but List was refused with unauthenticated; `unreachable` means
 * Health got no answer at all (network error, or a proxy answering unavailable).
 */
export type ConnectionState =
  | { kind: "connecting" }
  | { kind: "ok"; health: HealthResponse }
  | { kind: "token-required"; health: HealthResponse; tokenEntered: boolean; message: string }
  | { kind: "unreachable"; since: Date; message: string };

/** Listener of refreshes: the new state and, when the list could be read, the functions. */
export type RefreshListener = (state: ConnectionState, functions: FunctionMessage[] | undefined, listError: unknown) => void;

/**
 * The page's shared state: the client, the token, the connection state and the function list,
 * refreshed every REFRESH_MS. Views subscribe with `onRefresh`; an action that changes functions
 * calls `refresh()`.
 */
export class App {
  readonly client: AgentClient;
  state: ConnectionState = { kind: "connecting" };
  functions: FunctionMessage[] | undefined;
  private readonly listeners: RefreshListener[] = [];
  private running: Promise<void> | undefined;
  private again = false;

  constructor(readonly token: () => string) {
    this.client = createAgentClient(token);
  }

  /**
   * Calls `listener` after every refresh (and now, if a refresh already happened), until `signal`
   * aborts.
   */
  onRefresh(listener: RefreshListener, signal?: AbortSignal): void {
    if (signal?.aborted) return;
    this.listeners.push(listener);
    signal?.addEventListener("abort", () => this.listeners.splice(this.listeners.indexOf(listener), 1), { once: true });
    if (this.state.kind !== "connecting") listener(this.state, this.functions, undefined);
  }

  /** Refreshes now; calls made while one runs coalesce into one more refresh after it. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.refreshOnce();
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Starts the periodic refresh. */
  start(): void {
    void this.refresh();
    setInterval(() => void this.refresh(), REFRESH_MS);
  }

  private async refreshOnce(): Promise<void> {
    let health: HealthResponse;
    try {
      health = await this.client.health({});
    } catch (error) {
      const since = this.state.kind === "unreachable" ? this.state.since : new Date();
      this.state = { kind: "unreachable", since, message: ConnectError.from(error).rawMessage };
      this.functions = undefined;
      return this.emit(undefined);
    }
    let listError: unknown;
    try {
      this.functions = (await this.client.list({})).functions;
      this.state = { kind: "ok", health };
    } catch (error) {
      listError = error;
      this.functions = undefined;
      this.state = isUnauthenticated(error)
        ? { kind: "token-required", health, tokenEntered: this.token() !== "", message: ConnectError.from(error).rawMessage }
        : { kind: "ok", health };
    }
    this.emit(listError);
  }

  private emit(listError: unknown): void {
    for (const listener of this.listeners) listener(this.state, this.functions, listError);
  }
}

/** Whether an RPC error means "no valid token" (401 / unauthenticated). */
export function isUnauthenticated(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unauthenticated;
}
