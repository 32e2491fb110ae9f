// Parley chat page: talks to the public API only (REST + the run's SSE stream over fetch,
// so the bearer token travels in a header and resumes use Last-Event-ID).
"use strict";

(() => {
  const TOKEN_KEY = "parley.token";
  const REFRESH_KEY = "parley.refresh";
  const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);
  const ACTIVE = new Set(["queued", "in_progress", "requires_action"]);
  const MAX_STREAM_RETRIES = 30;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null,
    refresh: null, // the password flow's refresh token (null for pasted tokens and the demo)
    refreshTimer: null,
    refreshing: null, // the refresh in flight, shared by every caller
    user: null,
    conversations: [],
    current: null, // conversation id
    active: null, // {runId, view, controller}
    knownTasks: new Set(),
  };

  // ---- small helpers ----------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function relativeTime(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return new Date(iso).toLocaleDateString();
  }

  function compact(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "string") return JSON.stringify(value);
    const text = JSON.stringify(value);
    return text.length > 240 ? `${text.slice(0, 237)}…` : text;
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : `request failed (${status})`);
      this.status = status;
    }
  }

  async function api(path, options = {}, retried = false) {
    const headers = { Authorization: `Bearer ${state.token}` };
    let body;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body });
    if (response.status === 401) {
      // An expired access token: renew it silently once, then give up and sign out.
      if (!retried && (await refreshTokens())) return api(path, options, true);
      signOut("Your session expired; sign in again.");
      throw new ApiError(401, "unauthorized");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data && data.detail);
    return data;
  }

  // ---- sign in ----------------------------------------------------------------------------
  function showSignIn(message) {
    $("app").hidden = true;
    $("signin").hidden = false;
    $("demo-block").hidden = document.body.dataset.demo !== "true";
    $("register-button").hidden = document.body.dataset.registration !== "true";
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("username-input").focus();
  }

  function errorText(status, detail, fallback) {
    if (status === 429) return "Too many attempts; wait a few minutes and try again.";
    if (Array.isArray(detail)) return detail.map((item) => item.msg).join("; ");
    return typeof detail === "string" ? detail : fallback;
  }

  // Keeps the pair from /v1/auth/token or /v1/auth/refresh, and renews it a minute early.
  function storeTokens(tokens) {
    state.token = tokens.access_token;
    state.refresh = tokens.refresh_token;
    localStorage.setItem(TOKEN_KEY, state.token);
    localStorage.setItem(REFRESH_KEY, state.refresh);
    clearTimeout(state.refreshTimer);
    const lead = Math.max(5, tokens.expires_in - 60) * 1000;
    state.refreshTimer = setTimeout(() => refreshTokens(), lead);
  }

  function refreshTokens() {
    // Another tab may have rotated the pair already: its newer refresh token is the live one.
    const stored = localStorage.getItem(REFRESH_KEY);
    if (stored && state.refresh && stored !== state.refresh) {
      state.refresh = stored;
      state.token = localStorage.getItem(TOKEN_KEY) || state.token;
    }
    if (!state.refresh) return Promise.resolve(false);
    if (!state.refreshing) {
      const refresh = state.refresh;
      state.refreshing = fetch("/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refresh }),
      })
        .then(async (response) => {
          if (!response.ok) return false;
          if (state.refresh === refresh) storeTokens(await response.json());
          return true;
        })
        .catch(() => false)
        .finally(() => {
          state.refreshing = null;
        });
    }
    return state.refreshing;
  }

  async function passwordSignIn(register) {
    const username = $("username-input").value.trim();
    const password = $("password-input").value;
    if (!username || !password) return;
    const buttons = [$("signin-button"), $("register-button")];
    buttons.forEach((button) => (button.disabled = true));
    try {
      if (register) {
        const created = await fetch("/v1/auth/register", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ username, password }),
        });
        if (!created.ok) {
          const data = await created.json().catch(() => null);
          const detail = created.status === 409 ? "That username is taken." : data && data.detail;
          throw new Error(errorText(created.status, detail, "Could not create the account."));
        }
      }
      const response = await fetch("/v1/auth/token", {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", username, password }),
      });
      if (!response.ok) {
        const detail = response.status === 401 ? "Wrong username or password." : null;
        throw new Error(errorText(response.status, detail, "Sign-in failed."));
      }
      storeTokens(await response.json());
      $("password-input").value = "";
      await enter();
    } catch (error) {
      showSignIn(error.message);
    } finally {
      buttons.forEach((button) => (button.disabled = false));
    }
  }

  async function tokenSignIn(token) {
    state.token = token;
    state.refresh = null;
    localStorage.removeItem(REFRESH_KEY);
    localStorage.setItem(TOKEN_KEY, token);
    await enter(true);
  }

  // Shows the app for the current credentials, or the sign-in form if they are refused.
  async function enter(pasted = false) {
    let me;
    try {
      me = await api("/v1/me");
    } catch (error) {
      // A 401 has already signed out (saying the session expired); a pasted token says more.
      if (error.status !== 401) showSignIn(error.message);
      else if (pasted) showSignIn("That token was not accepted.");
      return;
    }
    state.user = me.username || me.id;
    $("user-badge").textContent = state.user;
    $("signin").hidden = true;
    $("app").hidden = false;
    await Promise.all([loadConversations(), loadTasks(), loadAgents().catch(() => {})]);
    if (state.conversations.length) await openConversation(state.conversations[0].id);
    $("message-input").focus();
  }

  function signOut(message) {
    if (state.active) state.active.controller.abort();
    if (state.refresh) {
      // Revoke on the server too, so a copied refresh token is worthless from now on.
      const body = JSON.stringify({ refresh_token: state.refresh });
      fetch("/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
        keepalive: true,
      }).catch(() => {});
    }
    clearTimeout(state.refreshTimer);
    state.active = null;
    state.token = null;
    state.refresh = null;
    state.current = null;
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(REFRESH_KEY);
    clearTranscript();
    showSignIn(message);
  }

  async function demoSignIn() {
    const button = $("demo-button");
    button.disabled = true;
    try {
      const response = await fetch("/v1/dev/token", { method: "POST" });
      if (!response.ok) throw new Error("The demo user is only available in development.");
      const data = await response.json();
      await tokenSignIn(data.token);
    } catch (error) {
      showSignIn(error.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---- conversations ----------------------------------------------------------------------
  async function loadConversations() {
    const page = await api("/v1/conversations?limit=50");
    state.conversations = page.data;
    renderConversations();
  }

  function renderConversations() {
    const list = $("conversation-list");
    list.replaceChildren();
    for (const conversation of state.conversations) {
      const item = el("li");
      const button = el("button", conversation.id === state.current ? "active" : "");
      button.type = "button";
      button.dataset.id = conversation.id;
      button.append(
        el("span", "conversation-title", conversation.title || "New conversation"),
        el("span", "conversation-time", relativeTime(conversation.updated_at)),
      );
      button.addEventListener("click", () => {
        closeDrawers();
        openConversation(conversation.id);
      });
      item.append(button);
      list.append(item);
    }
    $("no-conversations").hidden = state.conversations.length > 0;
  }

  // The user's agents, to run a turn with one of them instead of the built-in assistant.
  async function loadAgents() {
    const select = $("agent-select");
    const page = await api("/v1/agents?limit=100");
    const chosen = select.value;
    select.replaceChildren(el("option", "", "Todo assistant"));
    select.firstChild.value = "";
    for (const agent of page.data) {
      const option = el("option", "", agent.name);
      option.value = agent.id;
      select.append(option);
    }
    select.value = page.data.some((agent) => agent.id === chosen) ? chosen : "";
    select.hidden = page.data.length === 0; // only a choice once you have an agent
  }

  async function openConversation(id) {
    if (state.active) detachActive();
    state.current = id;
    renderConversations();
    clearTranscript();
    const [messages, runs] = await Promise.all([
      api(`/v1/conversations/${encodeURIComponent(id)}/messages?limit=100`),
      api(`/v1/runs?conversation_id=${encodeURIComponent(id)}&limit=5`),
    ]);
    if (state.current !== id) return;
    for (const message of messages.data) renderStoredMessage(message);
    // A turn still running (or waiting) in this conversation: show it live.
    const live = runs.data.filter((run) => ACTIVE.has(run.status)).reverse();
    for (const run of live) {
      addUserMessage(run.input.message);
      follow(run.id, new AssistantView());
    }
    scrollToEnd();
  }

  function newConversation() {
    if (state.active) detachActive();
    state.current = null;
    renderConversations();
    clearTranscript();
    closeDrawers();
    $("message-input").focus();
  }

  // ---- transcript -------------------------------------------------------------------------
  function clearTranscript() {
    const transcript = $("transcript");
    transcript.replaceChildren($("welcome") || el("div"));
    $("welcome").hidden = false;
  }

  function scrollToEnd() {
    const transcript = $("transcript");
    transcript.scrollTop = transcript.scrollHeight;
  }

  function addUserMessage(text) {
    $("welcome").hidden = true;
    const wrapper = el("div", "message user");
    wrapper.append(el("div", "bubble", text));
    $("transcript").append(wrapper);
    scrollToEnd();
  }

  function renderStoredMessage(message) {
    if (message.role === "user") {
      addUserMessage(message.content);
      return;
    }
    const view = new AssistantView();
    for (const call of message.tool_calls) view.toolCall(call, true);
    view.setText(message.content);
    view.finish(message.status === "incomplete" ? "cancelled" : "completed", null);
  }

  class AssistantView {
    constructor() {
      $("welcome").hidden = true;
      this.root = el("div", "message assistant streaming");
      this.tools = el("div", "tools");
      this.bubble = el("div", "bubble");
      this.meta = el("div", "meta");
      this.status = el("span", "status-working", "Thinking…");
      this.meta.append(this.status);
      this.root.append(this.tools, this.bubble, this.meta);
      this.cards = new Map();
      $("transcript").append(this.root);
      scrollToEnd();
    }

    working(text) {
      this.status.className = "status-working";
      this.status.textContent = text;
    }

    append(text) {
      this.bubble.textContent += text;
      this.working("Writing…");
      scrollToEnd();
    }

    setText(text) {
      this.bubble.textContent = text;
      scrollToEnd();
    }

    toolCall(call, done) {
      let card = this.cards.get(call.id);
      if (!card) {
        card = el("div", "tool-card");
        card.dataset.tool = call.tool_name;
        const head = el("div", "tool-head");
        head.append(el("span", "tool-icon", "ƒ"), el("span", "tool-name", call.tool_name));
        card.chip = el("span", "chip running", "running");
        head.append(card.chip);
        card.append(head, this.row("args", formatFields(call.arguments)));
        card.result = this.row("result", "…");
        card.append(card.result);
        this.cards.set(call.id, card);
        this.tools.append(card);
      }
      if (done) {
        card.chip.className = `chip ${call.is_error ? "error" : "done"}`;
        card.chip.textContent = call.is_error ? "error" : "done";
        card.result.lastChild.textContent = formatResult(call.result);
      } else {
        this.working(`Running ${call.tool_name}…`);
      }
      scrollToEnd();
    }

    // The run waits for the user: each pending call gets Approve / Reject; the decisions go
    // together once every call has one (the API takes them in one request).
    askApproval(run) {
      const calls = (run.required_action && run.required_action.tool_calls) || [];
      const decisions = new Map();
      this.answered = false;
      this.working("Waiting for your approval");
      for (const call of calls) {
        this.toolCall(call, false);
        const card = this.cards.get(call.id);
        card.chip.className = "chip waiting";
        card.chip.textContent = "needs approval";
        const buttons = el("div", "approval");
        const approve = el("button", "approve", "Approve");
        const reject = el("button", "reject", "Reject");
        approve.type = reject.type = "button";
        const choose = (yes) => {
          buttons.remove();
          card.chip.className = "chip running";
          card.chip.textContent = yes ? "approved" : "rejected";
          decisions.set(call.id, { tool_call_id: call.id, approve: yes });
          if (decisions.size === calls.length) this.sendDecisions(run.id, [...decisions.values()]);
        };
        approve.addEventListener("click", () => choose(true));
        reject.addEventListener("click", () => choose(false));
        buttons.append(approve, reject);
        card.append(buttons);
      }
      this.working("Waiting for your approval");
      scrollToEnd();
    }

    async sendDecisions(runId, decisions) {
      this.answered = true;
      this.working("Resuming…");
      try {
        await api(`/v1/runs/${encodeURIComponent(runId)}/tool-approvals`, {
          method: "POST",
          body: { decisions },
        });
      } catch (error) {
        this.working(error.message);
      }
    }

    row(label, value) {
      const row = el("div", "tool-row");
      row.append(el("span", "tool-label", label), el("span", "tool-value", value));
      return row;
    }

    finish(status, error) {
      this.root.classList.remove("streaming");
      if (status === "completed") {
        this.meta.replaceChildren();
        this.meta.hidden = true;
      } else if (status === "cancelled") {
        this.meta.replaceChildren(el("span", "status-cancelled", "Stopped"));
      } else {
        const reason = error && error.message ? `Failed: ${error.message}` : "Failed";
        this.meta.replaceChildren(el("span", "status-failed", reason));
      }
    }
  }

  // Tool arguments and results as short readable lines rather than raw JSON.
  function formatFields(object) {
    const entries = Object.entries(object || {});
    if (!entries.length) return "—";
    return entries.map(([key, value]) => `${key}: ${compact(value)}`).join(", ");
  }

  function formatResult(result) {
    if (Array.isArray(result)) {
      if (!result.length) return "nothing";
      return result
        .map((item) =>
          item && typeof item === "object" && "title" in item
            ? `#${item.id} ${item.title}${item.completed ? " ✓" : ""}`
            : compact(item),
        )
        .join("\n");
    }
    if (result && typeof result === "object") return formatFields(result);
    if (typeof result === "string") return result;
    return compact(result);
  }

  // ---- running a turn ---------------------------------------------------------------------
  async function send(text) {
    const body = { message: text };
    if (state.current) body.conversation_id = state.current;
    if ($("agent-select").value) body.agent_id = $("agent-select").value;
    setBusy(true);
    addUserMessage(text);
    let run;
    try {
      run = await api("/v1/runs", { method: "POST", body });
    } catch (error) {
      const view = new AssistantView();
      view.finish("failed", { message: error.message });
      setBusy(false);
      return;
    }
    if (!state.current) {
      state.current = run.conversation_id;
      loadConversations();
    }
    follow(run.id, new AssistantView());
  }

  function follow(runId, view) {
    const controller = new AbortController();
    state.active = { runId, view, controller };
    setBusy(true);
    streamEvents(runId, controller.signal, (event) => applyEvent(view, event))
      .catch((error) => {
        if (!controller.signal.aborted) view.finish("failed", { message: error.message });
      })
      .finally(() => {
        if (state.active && state.active.runId === runId) {
          state.active = null;
          setBusy(false);
          loadConversations().catch(() => {});
        }
      });
  }

  function detachActive() {
    state.active.controller.abort();
    state.active = null;
    setBusy(false);
  }

  function applyEvent(view, event) {
    const data = event.data;
    switch (event.type) {
      case "run.queued":
        view.working(view.answered ? "Resuming…" : "Waiting for the previous turn…");
        break;
      case "run.requires_action":
        view.askApproval(data.run);
        break;
      case "run.in_progress":
        view.setText(""); // a fresh attempt streams the reply again
        view.working("Thinking…");
        break;
      case "message.delta":
        view.append(data.delta);
        break;
      case "tool_call.started":
        view.toolCall(data.tool_call, false);
        break;
      case "tool_call.completed":
        view.toolCall(data.tool_call, true);
        loadTasks().catch(() => {});
        break;
      case "message.completed":
        view.setText(data.message.content);
        break;
      default:
        if (TERMINAL.has(event.type)) {
          const run = data.run;
          if (run.output && run.output.response) view.setText(run.output.response);
          view.finish(run.status, run.error);
          loadTasks().catch(() => {});
        }
    }
  }

  // SSE over fetch: reads frames, remembers the last id and resumes after it on a drop.
  async function streamEvents(runId, signal, onEvent) {
    let last = 0;
    for (let attempt = 0; attempt <= MAX_STREAM_RETRIES; attempt += 1) {
      try {
        const response = await fetch(`/v1/runs/${encodeURIComponent(runId)}/events`, {
          headers: { Authorization: `Bearer ${state.token}`, "Last-Event-ID": String(last) },
          signal,
        });
        if (response.status === 401) {
          if (await refreshTokens()) continue;
          signOut("Your session expired; sign in again.");
          return;
        }
        if (!response.ok) throw new ApiError(response.status, `event stream answered ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const event = parseFrame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!event) continue;
            last = event.id;
            attempt = 0;
            onEvent(event);
            if (TERMINAL.has(event.type)) return;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status < 500) throw error;
      }
      await sleep(Math.min(5000, 500 * (attempt + 1)));
    }
    throw new Error("lost the connection to the event stream");
  }

  function parseFrame(frame) {
    let id = null;
    let type = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = Number(value);
      else if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (id === null || !data.length) return null;
    return { id, type, data: JSON.parse(data.join("\n")) };
  }

  async function stop() {
    if (!state.active) return;
    const button = $("stop-button");
    button.disabled = true;
    try {
      await api(`/v1/runs/${encodeURIComponent(state.active.runId)}/cancel`, { method: "POST" });
    } catch (error) {
      if (error.status !== 409) state.active.view.working(error.message);
    } finally {
      button.disabled = false;
    }
  }

  function setBusy(busy) {
    $("send-button").hidden = busy;
    $("stop-button").hidden = !busy;
  }

  // ---- tasks ------------------------------------------------------------------------------
  async function loadTasks() {
    const page = await api("/v1/tasks");
    const list = $("task-list");
    list.replaceChildren();
    for (const task of page.data) {
      const item = el("li", task.completed ? "done" : "");
      if (state.knownTasks.size && !state.knownTasks.has(task.id)) item.classList.add("fresh");
      const box = el("input");
      box.type = "checkbox";
      box.checked = task.completed;
      box.setAttribute("aria-label", `Mark “${task.title}” done`);
      box.addEventListener("change", () => toggleTask(task.id, box.checked));
      const text = el("div", "task-text");
      text.append(el("span", "task-title", task.title), el("span", "task-id", `#${task.id}`));
      item.append(box, text);
      list.append(item);
    }
    state.knownTasks = new Set(page.data.map((task) => task.id));
    const open = page.data.filter((task) => !task.completed).length;
    $("task-count").textContent = String(open);
    $("task-count-narrow").textContent = String(open);
    $("no-tasks").hidden = page.data.length > 0;
  }

  async function toggleTask(id, completed) {
    try {
      await api(`/v1/tasks/${id}`, { method: "PATCH", body: { completed } });
    } finally {
      await loadTasks();
    }
  }

  // ---- drawers (narrow screens) -----------------------------------------------------------
  function toggleDrawer(name) {
    const app = $("app");
    const open = !app.classList.contains(`show-${name}`);
    closeDrawers();
    if (open) app.classList.add(`show-${name}`);
    $("scrim").hidden = !open;
  }

  function closeDrawers() {
    $("app").classList.remove("show-chats", "show-tasks");
    $("scrim").hidden = true;
  }

  // ---- wiring -----------------------------------------------------------------------------
  function autosize() {
    const input = $("message-input");
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  function start() {
    $("password-form").addEventListener("submit", (event) => {
      event.preventDefault();
      passwordSignIn(false);
    });
    $("register-button").addEventListener("click", () => passwordSignIn(true));
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim();
      if (token) tokenSignIn(token);
    });
    $("demo-button").addEventListener("click", demoSignIn);
    $("signout").addEventListener("click", () => signOut(""));
    $("new-chat").addEventListener("click", newConversation);
    $("toggle-chats").addEventListener("click", () => toggleDrawer("chats"));
    $("toggle-tasks").addEventListener("click", () => toggleDrawer("tasks"));
    $("close-tasks").addEventListener("click", closeDrawers);
    $("scrim").addEventListener("click", closeDrawers);
    $("stop-button").addEventListener("click", stop);
    const input = $("message-input");
    input.addEventListener("input", autosize);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || state.active) return;
      input.value = "";
      autosize();
      send(text);
    });

    const saved = localStorage.getItem(TOKEN_KEY);
    state.refresh = localStorage.getItem(REFRESH_KEY);
    if (saved) {
      state.token = saved;
      enter().then(() => {
        if (state.refresh && state.token) refreshTokens(); // restart the renewal timer
      });
    } else showSignIn("");
  }

  // /readyz says whether any worker beat lately; without one, turns wait in the queue.
  async function watchWorkers() {
    for (;;) {
      try {
        const response = await fetch("/readyz");
        const body = await response.json();
        const workers = body.checks && body.checks.workers;
        $("worker-banner").hidden = !workers || workers.ok !== false;
      } catch (error) {
        // the API itself is unreachable: the requests that fail say so
      }
      await sleep(10000);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("DOMContentLoaded", watchWorkers);
})();
