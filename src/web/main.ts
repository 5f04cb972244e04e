import { App } from "./app.ts";
import { byId } from "./dom.ts";
import { onRoute, detailHref } from "./router.ts";
import "./sections/index.ts";
import { mountConnection } from "./views/connection.ts";
import { mountDeployCard } from "./views/deploy.ts";
import { mountDetail } from "./views/detail.ts";
import { mountInvokeCard } from "./views/invoke.ts";
import { mountList } from "./views/list.ts";
import "./style.css";

// The page: the header (health, token), the connection panel, the function list or one
// function's detail view (views/detail.ts, sections/), and the deploy and invoke cards.
const tokenInput = byId<HTMLInputElement>("token");
tokenInput.value = localStorage.getItem("faas-token") ?? "";
const app = new App(() => tokenInput.value.trim());
tokenInput.addEventListener("change", () => {
  localStorage.setItem("faas-token", tokenInput.value);
  void app.refresh();
});

mountConnection(app, tokenInput);
mountList(app);
const route = mountDetail(app);
mountDeployCard(app, (id) => {
  window.location.hash = detailHref(id);
});
mountInvokeCard(app);
const invokeId = byId<HTMLInputElement>("invoke-id");
onRoute((r) => {
  route(r);
  // The invoke card calls the function on view, unless another id was typed in.
  if (r.view === "detail" && !invokeId.value) invokeId.value = r.id;
});
app.start();
