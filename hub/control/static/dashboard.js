"use strict";
const $ = (sel) => document.querySelector(sel);
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  const {dataset, ...rest} = props || {};
  Object.assign(node, rest);
  Object.assign(node.dataset, dataset || {});
  for (const child of children) node.append(child);
  return node;
}
function render(s) {
  $("#clock").replaceChildren(s.clock.jst, el("small", {textContent: s.clock.mode === "real" ? "（実時間）" : "（模擬時刻）"}));
  $("#office-cards").replaceChildren(...s.offices.map((o) => el("div", {className: "card", id: "office-" + o.office_number},
    el("div", {className: "name", textContent: o.name}),
    el("div", {className: "number", textContent: o.office_number}),
    el("span", {className: "licence st-" + o.licence, textContent: "ライセンス: " + o.licence}),
    el("div", {}, "未受信 ", el("span", {className: "pending" + (o.pending ? "" : " zero"), textContent: String(o.pending)}), " 件"))));
  const rows = s.transmissions.map((t) => el("tr", {dataset: {transmission: t.transmission_id}},
    el("td", {textContent: t.submitted_at_jst}),
    el("td", {}, t.sender.name + " → " + t.recipient.name, el("br"), el("a", {className: "tid", href: "/dashboard/transmissions/" + t.transmission_id, textContent: t.transmission_id.slice(0, 12) + "…"})),
    el("td", {textContent: t.file_count + "件"}),
    el("td", {}, el("span", {className: "status " + (t.downloaded_at ? "done" : "pending"), textContent: t.status}))));
  $("#more").hidden = !s.more;
  $("#transmissions tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {className: "empty", colSpan: 4, textContent: "まだ送信はありません"}))]));
  const refusals = s.refusals.map((r) => el("div", {className: "refusal"},
    el("div", {className: "message", textContent: r.message || r.code}),
    el("div", {className: "explanation", textContent: r.explanation || ""}),
    el("div", {className: "meta", textContent: r.at + " · " + r.what + " · " + (r.office || "-") + " · " + r.code})));
  $("#refusals").replaceChildren(...(refusals.length ? refusals : [el("p", {className: "empty", textContent: "拒否はありません"})]));
  const sessions = [...s.sessions.client.map((x) => ["クライアント", x]), ...s.sessions.website.map((x) => ["利用状況Webサイト", x])];
  $("#sessions tbody").replaceChildren(...(sessions.length ? sessions.map(([kind, x]) => el("tr", {},
    el("td", {textContent: kind}), el("td", {textContent: x.user_id}), el("td", {textContent: x.office_number}),
    el("td", {textContent: x.expires_at.slice(0, 16).replace("T", " ")}))) : [el("tr", {}, el("td", {className: "empty", colSpan: 4, textContent: "ログイン中の利用者はいません"}))]));
  $("#corrections tbody").replaceChildren(...(s.corrections.corrections.length ? s.corrections.corrections.map((c) => {
    const status = el("select", {dataset: {correction: String(c.id)}}, ...s.corrections.statuses.map((v) => el("option", {value: v, textContent: v})));
    status.value = c.status;
    status.addEventListener("change", () => post("/dashboard/corrections/" + c.id, {status: status.value}));
    return el("tr", {}, el("td", {textContent: c.received_at.slice(0, 10)}), el("td", {textContent: c.office_number}),
      el("td", {textContent: c.field}), el("td", {textContent: c.value}), el("td", {}, status));
  }) : [el("tr", {}, el("td", {className: "empty", colSpan: 5, textContent: "修正依頼はありません"}))]));
  const select = $("#snapshot");
  const chosen = select.value;
  select.replaceChildren(...s.snapshots.map((n) => el("option", {value: n, textContent: n})));
  if (s.snapshots.includes(chosen)) select.value = chosen;
  $("#restore").disabled = !s.snapshots.length;
}
let timer = null;
let rows = 15;
async function refresh() {
  const answer = await fetch("/dashboard/state?limit=" + rows, {credentials: "same-origin"});
  if (answer.ok) render(await answer.json());
}
function soon() { clearTimeout(timer); timer = setTimeout(refresh, 120); }
function addFeed(e) {
  const item = el("li", {className: "new" + (e.code ? " bad" : "") + (e.fault ? " fault" : "")},
    el("span", {className: "meta", textContent: e.at + " "}),
    (e.office || "") + " " + e.what + " → " + (e.code ? (e.message || e.code) : "OK（" + e.status + "）"));
  $("#feed").prepend(item);
  while ($("#feed").children.length > 60) $("#feed").lastChild.remove();
}
async function post(path, body) {
  const answer = await fetch(path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Dashboard": "1"}, body: JSON.stringify(body)});
  if (!answer.ok) { const e = await answer.json(); alert(e.message + "\n" + (e.detail || "")); }
  soon();
}
$("#more").addEventListener("click", () => { rows = Math.min(rows + 15, 500); refresh(); });
document.querySelectorAll("[data-days]").forEach((b) => b.addEventListener("click", () => post("/dashboard/clock", {days: Number(b.dataset.days)})));
$("#restore").addEventListener("click", () => { const n = $("#snapshot").value; if (n && confirm("「" + n + "」の状態に戻します。よろしいですか？")) post("/dashboard/restore", {name: n}); });
const events = new EventSource("/dashboard/events");
events.onmessage = (m) => { addFeed(JSON.parse(m.data)); soon(); };
setInterval(refresh, 10000);
refresh();
