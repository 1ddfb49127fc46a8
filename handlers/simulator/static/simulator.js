// Huitou simulator: send messages through the real webhook, poll the chat and the outbox.
(function () {
  "use strict";
  const body = document.body;
  const openid = body.dataset.openid;
  const api = body.dataset.api;
  const chat = document.getElementById("chat");
  const outbox = document.getElementById("outbox");
  const statusLine = document.getElementById("status");
  const POLL_MS = 3000;

  function say(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", Boolean(isError));
  }

  async function post(path, payload) {
    const response = await fetch(api + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload || {}),
    });
    let data;
    try { data = await response.json(); } catch (e) { data = { ok: false, error: "HTTP " + response.status }; }
    if (!response.ok && data.ok !== false) { data.ok = false; }
    return data;
  }

  function replaceIfChanged(element, html) {
    if (element.dataset.html === html) { return false; }
    element.dataset.html = html;
    element.innerHTML = html;
    return true;
  }

  async function refresh() {
    try {
      if (openid) {
        const r = await fetch(body.dataset.chatUrl + "?openid=" + encodeURIComponent(openid));
        if (r.ok && replaceIfChanged(chat, await r.text())) { chat.scrollTop = chat.scrollHeight; }
      }
      const o = await fetch(body.dataset.outboxUrl);
      if (o.ok) { replaceIfChanged(outbox, await o.text()); }
    } catch (e) { /* the server may be restarting: try again at the next poll */ }
  }

  function showClock(clock) {
    if (!clock) { return; }
    document.getElementById("clock-now").textContent = clock.now;
    document.getElementById("topbar-now").textContent = clock.now;
    document.getElementById("clock-offset").textContent = "比真实时间快 " + clock.offset_days + " 天";
    document.getElementById("clock-at").value = clock.now_input;
    document.getElementById("clock-form").dataset.now = clock.now_input;
  }

  function describeNew(counts) {
    const labels = { pending: "待发送", claimed: "待发送", sending: "发送中", sent: "已发送", drafted: "转草稿",
                     skipped: "跳过", failed: "失败", cancelled: "已取消" };
    const parts = Object.keys(counts || {}).map(function (k) { return (labels[k] || "其他") + " " + counts[k]; });
    return parts.length ? "新增主动消息：" + parts.join("，") : "没有新的主动消息";
  }

  // Typing a message
  const composer = document.getElementById("composer");
  const input = document.getElementById("message");
  composer.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !openid) { return; }
    input.disabled = true;
    const data = await post("message", { openid: openid, text: text });
    input.disabled = false;
    if (data.ok) {
      input.value = "";
      say(data.tick_error || "", Boolean(data.tick_error));
    } else {
      say(data.error, true);
    }
    await refresh();
    input.focus();
  });

  document.getElementById("new-customer").addEventListener("submit", async function (event) {
    event.preventDefault();
    const data = await post("customers", { nickname: event.target.nickname.value });
    if (data.ok) { window.location.search = "?openid=" + encodeURIComponent(data.openid); }
    else { say(data.error, true); }
  });

  document.getElementById("load-demo").addEventListener("click", async function () {
    const data = await post("demo");
    say(data.ok ? data.message : data.error, !data.ok);
    if (data.ok) { setTimeout(function () { window.location.reload(); }, 1200); }
  });

  // The clock
  const clockForm = document.getElementById("clock-form");
  async function jump(at) {
    say("正在运行调度器…");
    const data = await post("clock", { at: at });
    showClock(data.clock);
    if (data.ok) { say("时间已调到 " + data.clock.now + "，调度器运行了 " + data.ticks + " 次。" + describeNew(data.new_messages)); }
    else { say(data.error, true); }
    await refresh();
  }
  clockForm.addEventListener("submit", function (event) {
    event.preventDefault();
    jump(document.getElementById("clock-at").value);
  });
  document.querySelectorAll("[data-days]").forEach(function (button) {
    button.addEventListener("click", function () {
      // "YYYY-MM-DDTHH:MM" in the seller's timezone: add whole days on the calendar.
      const parts = clockForm.dataset.now.split(/[-T:]/).map(Number);
      const d = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2] + Number(button.dataset.days), parts[3], parts[4]));
      jump(d.toISOString().slice(0, 16));
    });
  });
  document.getElementById("tick-now").addEventListener("click", async function () {
    const data = await post("tick");
    say(data.ok ? describeNew(data.new_messages) : data.error, !data.ok);
    await refresh();
  });
  document.getElementById("clock-reset").addEventListener("click", async function () {
    const data = await post("clock/reset");
    showClock(data.clock);
    say("已回到真实时间");
    await refresh();
  });

  // WeCom mode: the customer adds the seller on WeCom; the seller's app lists tasks to tap "send" on.
  const wecomTasks = document.getElementById("wecom-tasks");
  async function refreshWecom() {
    try {
      const r = await fetch(api + "wecom/tasks");
      if (!r.ok) { return; }
      const data = await r.json();
      wecomTasks.innerHTML = "";
      (data.tasks.length ? data.tasks : [null]).forEach(function (task) {
        const li = document.createElement("li");
        li.textContent = task ? wecomTasks.dataset.line.replace("{customers}", task.customers).replace("{text}", task.text)
                              : wecomTasks.dataset.empty;
        wecomTasks.appendChild(li);
      });
    } catch (e) { /* try again at the next poll */ }
  }
  async function wecomAction(path, payload) {
    const data = await post(path, payload);
    say(data.ok ? data.message : data.error, !data.ok);
    await refresh();
    await refreshWecom();
  }
  document.getElementById("wecom-mode").addEventListener("click", function () { wecomAction("wecom/mode"); });
  document.getElementById("wecom-add").addEventListener("click", function () {
    wecomAction("wecom/add", { openid: openid });
  });
  document.getElementById("wecom-confirm").addEventListener("click", function () { wecomAction("wecom/confirm"); });
  refreshWecom();
  setInterval(refreshWecom, POLL_MS);
  // The consent link's button: the simulator plays the platform's "allow" for this customer.
  chat.addEventListener("click", async function (event) {
    const button = event.target.closest(".sim-subscribe");
    if (!button || !openid) { return; }
    button.disabled = true;
    const data = await post("subscribe", { openid: openid });
    button.disabled = false;
    say(data.ok ? data.message : data.error, !data.ok);
    await refresh();
  });

  chat.scrollTop = chat.scrollHeight;
  chat.dataset.html = chat.innerHTML;
  setInterval(refresh, POLL_MS);
})();
