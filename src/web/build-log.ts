import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DeployPhase, DeployRequestSchema, Function as FunctionMessage } from "../../gen/faas/v1/agent_pb.ts";
import { isErrorLine } from "../clients/explain.ts";
import { PHASES, type AgentClient } from "./api.ts";
import { h } from "./dom.ts";
import { showError } from "./errors.ts";

/** A deploy request as the client takes it. */
export type DeployInit = MessageInitShape<typeof DeployRequestSchema>;

/**
 * A deploy's progress on the page: the phases lit up as they pass, the build log streaming in,
 * a status line and the error. Element ids are `PREFIX-phases`, `PREFIX-log`, `PREFIX-status` and
 * `PREFIX-error`; each phase item has `data-phase` (its name) and `data-state` (pending, active,
 * done, failed).
 */
export class BuildLog {
  readonly root: HTMLElement;
  private readonly phases = new Map<DeployPhase, HTMLLIElement>();
  private readonly log: HTMLElement;
  private readonly status: HTMLElement;
  private readonly error: HTMLElement;
  /** The log lines on screen (their text), so the error does not repeat them. */
  private readonly shown = new Set<string>();

  constructor(prefix: string) {
    const list = h("ol", { id: `${prefix}-phases`, class: "phases" });
    for (const [phase, name] of PHASES) {
      const li = h("li", { "data-phase": name, "data-state": "pending", text: name });
      this.phases.set(phase, li);
      list.append(li);
    }
    this.log = h("pre", { id: `${prefix}-log`, class: "log", "aria-live": "polite" });
    this.status = h("p", { id: `${prefix}-status`, class: "status" });
    this.error = h("div", { id: `${prefix}-error`, class: "error", hidden: true });
    this.root = h("div", { class: "build-log", hidden: true }, list, this.log, this.status, this.error);
  }

  /**
   * Runs the deploy, streaming its events in; resolves with the deployed function, or with
   * undefined once a failure is shown (the error is never thrown on).
   */
  async run(client: AgentClient, request: DeployInit): Promise<FunctionMessage | undefined> {
    this.root.hidden = false;
    this.log.replaceChildren();
    this.shown.clear();
    showError(this.error, undefined);
    this.setStatus("deploying…", "");
    for (const li of this.phases.values()) li.dataset.state = "pending";
    let active: HTMLLIElement | undefined;
    try {
      for await (const res of client.deploy(request)) {
        const time = res.time ? timestampDate(res.time).toLocaleTimeString() : "";
        switch (res.event.case) {
          case "phase":
            if (active) active.dataset.state = "done";
            active = this.phases.get(res.event.value);
            if (active) active.dataset.state = "active";
            this.line([["time", `${time} `], ["phase", `▸ ${active?.textContent ?? res.event.value}`]]);
            break;
          case "log": {
            const { line, source } = res.event.value;
            this.shown.add(line);
            // The lines that say what went wrong (pip's ERROR lines) stand out where they are, once.
            this.line([["time", `${time} `], ["src", `${source}: `], [isErrorLine(line) ? "line hl" : "line", line]]);
            break;
          }
          case "function": {
            if (active) active.dataset.state = "done";
            active = undefined;
            const fn = res.event.value;
            this.setStatus(`deployed ${fn.id} (revision ${fn.revision.slice(0, 12)}, python ${fn.pythonVersion})`, "ok");
            return fn;
          }
        }
      }
      throw new Error("the deploy stream ended without the deployed function");
    } catch (error) {
      if (active) active.dataset.state = "failed";
      this.setStatus("deploy failed", "bad");
      showError(this.error, error, { functionId: request.id || undefined, shown: this.shown });
      return undefined;
    }
  }

  /** Shows a failure that happened before the deploy started (e.g. a malformed env line). */
  fail(error: unknown): void {
    this.root.hidden = false;
    this.setStatus("deploy failed", "bad");
    showError(this.error, error);
  }

  private setStatus(text: string, kind: "" | "ok" | "bad"): void {
    this.status.textContent = text;
    this.status.className = kind ? `status ${kind}` : "status";
  }

  private line(parts: Array<[string, string]>): void {
    const line = h("div", {}, ...parts.map(([className, text]) => h("span", { class: className, text })));
    this.log.append(line);
    this.log.scrollTop = this.log.scrollHeight;
  }
}
