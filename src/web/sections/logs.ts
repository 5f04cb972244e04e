import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { button, h } from "../dom.ts";
import { showError } from "../errors.ts";
import { registerSection } from "./registry.ts";

/** Lines the view keeps; older ones are dropped from the top. */
const MAX_LINES = 1000;
/** Lines asked for when the view opens. */
const TAIL = 200;

registerSection({
  name: "logs",
  title: "Logs",
  order: 30,
  wide: true,
  mount(body, { app, id, signal }) {
    const status = h("span", { id: "logs-status", class: "muted" });
    const log = h("pre", { id: "logs", class: "log logs", "aria-live": "polite" });
    const error = h("div", { id: "logs-error", class: "error", hidden: true });
    const again = button("reconnect", () => void follow());
    again.hidden = true;
    body.append(h("p", { class: "toolbar" }, status, " ", again), log, error);

    const add = (time: Date | undefined, stream: string, line: string) => {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(h("div", { class: `line ${stream}` }, h("span", { class: "time", text: time ? `${time.toLocaleTimeString()} ` : "" }), h("span", { class: "line", text: line })));
      while (log.childElementCount > MAX_LINES) log.firstElementChild!.remove();
      if (atBottom) log.scrollTop = log.scrollHeight;
    };

    const follow = async () => {
      broken = false;
      again.hidden = true;
      showError(error, undefined);
      log.replaceChildren();
      let following = true;
      status.textContent = "following…";
      try {
        try {
          for await (const res of app.client.logs({ id, follow: true, tail: TAIL }, { signal })) add(res.time && timestampDate(res.time), res.stream, res.line);
        } catch (e) {
          // A platform that cannot follow still sends what it has.
          if (ConnectError.from(e).code !== Code.Unimplemented || signal.aborted) throw e;
          following = false;
          status.textContent = "this platform cannot follow logs: the last lines";
          for await (const res of app.client.logs({ id, follow: false, tail: TAIL }, { signal })) add(res.time && timestampDate(res.time), res.stream, res.line);
        }
        if (following) status.textContent = "the log stream ended";
      } catch (e) {
        if (signal.aborted) return;
        missing = ConnectError.from(e).code === Code.NotFound;
        status.textContent = "not following";
        showError(error, e, { functionId: id });
      }
      if (!signal.aborted) {
        again.hidden = false;
        broken = following;
      }
    };
    // A stream that broke while the agent was away follows again once the agent answers.
    let broken = false;
    let away = false;
    app.onRefresh((state) => {
      if (state.kind !== "ok") away = true;
      else if (away) {
        away = false;
        if (broken) void follow();
      }
    }, signal);
    // A function that was not there yet (the view opened first) is followed once Get finds it.
    let missing = false;
    void follow();
    return () => {
      if (missing) {
        missing = false;
        void follow();
      }
    };
  },
});
