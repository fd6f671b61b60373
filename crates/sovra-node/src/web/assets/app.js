// The owner's web page (docs/PROTOCOL.md §24). Plain script, no build step, no third-party code:
// it calls the cloud's owner API with the session cookie and, on every write, the session's CSRF
// token. Untrusted text only ever goes in through textContent, never as HTML.
"use strict";

const csrf = document.querySelector('meta[name="sovra-csrf"]').content;
const device = document.querySelector('meta[name="sovra-device"]').content;
const api = new URL("../api/owner/", location.href);
const view = document.getElementById("view");
const status = document.getElementById("status");
let live = null; // the EventSource of the conversation view, closed on leaving it

// --- building blocks -----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function say(text, kind) {
  status.textContent = text;
  status.className = kind || "";
}

/** Calls the owner API; a refusal is shown (its message, in words) and thrown. */
async function call(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") init.headers["x-sovra-csrf"] = csrf;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(new URL(path.replace(/^\//, ""), api), init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    if (response.status === 401) location.reload();
    const message = data.message || response.statusText;
    say(message, "error");
    if (data.error === "elevation_required") elevate();
    const e = new Error(message);
    e.code = data.error;
    throw e;
  }
  if (method !== "GET") document.getElementById("elevate").replaceChildren();
  return data;
}

/** A high-trust change was refused: offer the second factors this cloud has (§15.6). */
async function elevate() {
  const panel = document.getElementById("elevate");
  const { factors } = await call("GET", "/elevation");
  const parts = [h("h2", {}, "Confirm it is you"),
    h("p", {}, "Changing who may talk to your cloud needs a second factor. It lasts 15 minutes; then try again.")];
  if (factors.includes("phone")) {
    const phone = h("input", { type: "tel", name: "phone", autocomplete: "tel", required: true });
    const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code" });
    let verification = null;
    parts.push(h("form", { class: "grid", onsubmit: async (e) => {
      e.preventDefault();
      if (!verification) {
        const { registration } = await call("GET", "/registry");
        const sent = await call("POST", "/registry/verifications", { registry: registration.registry_url, phone: phone.value });
        verification = sent.verification_id;
        say("A code is on its way to your phone.");
      } else {
        await call("POST", "/elevation", { verification_id: verification, code: code.value });
        panel.replaceChildren();
        say("Confirmed for 15 minutes: try again.");
      }
    } }, field("Phone number on record", phone), field("Code from the text", code),
      h("button", { type: "submit" }, "Text me a code / Confirm")));
  }
  if (factors.includes("second_device")) {
    parts.push(h("p", {}, "Or, on another device of this cloud, run:"),
      h("pre", {}, h("code", { id: "elevate-command" }, `sovra elevate --approve ${device}`)));
  }
  panel.replaceChildren(...parts);
}

/** An RFC 3339 time of the owner API, in the reader's own clock and words. */
function when(time) {
  return time ? new Date(time).toLocaleString() : "";
}

function mark(status) {
  const words = { verified: "verified", unverified: "unverified", impostor: "impostor!" };
  return h("span", { class: "mark " + status, title: "handle " + status }, words[status] || status);
}

function field(label, input) {
  const id = "f-" + Math.random().toString(36).slice(2);
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function section(title, ...content) {
  view.replaceChildren(h("h1", {}, title), ...content);
  view.focus();
}

function empty(text) {
  return h("p", { class: "empty" }, text);
}

// --- pages -----------------------------------------------------------------------------------

const pages = {
  async pending() {
    const page = await call("GET", "/pending");
    const rows = page.pending.map((p) => {
      const url = h("input", { type: "url", name: "url", placeholder: "https://… (if they gave you one)" });
      return h("li", { class: "card", "data-id": p.id },
        h("div", { class: "who" }, p.peer_handle || "(no handle)", " ", mark(p.handle_status)),
        h("div", {}, p.reason === "key_reset" ? "changed their key" : "asks to talk", " · ", p.topic),
        h("div", { class: "code" }, "Safety code: ", h("code", {}, p.safety_code)),
        h("div", { class: "small" }, "Key ", p.peer_pubkey, " · ", when(p.received_at)),
        p.reason === "key_reset" ? null : field("Their address, to answer them", url),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "approve", onclick: async () => {
            const body = p.handle_status === "impostor" ? { force: true } : {};
            if (url.value.trim()) body.url = url.value.trim();
            await call("POST", `/pending/${encodeURIComponent(p.id)}/approve`, body);
            say(`Approved ${p.peer_handle || p.peer_pubkey}.`);
            pages.pending();
          } }, "Approve"),
          h("button", { type: "button", class: "deny", onclick: async () => {
            await call("POST", `/pending/${encodeURIComponent(p.id)}/deny`);
            say(`Denied ${p.peer_handle || p.peer_pubkey}.`);
            pages.pending();
          } }, "Deny")));
    });
    section("Requests waiting",
      h("p", {}, "Compare the safety code with the person before you approve."),
      rows.length ? h("ul", { class: "cards" }, rows) : empty("Nobody is waiting."));
  },

  async peers() {
    const [{ peers }, { swarms }] = await Promise.all([call("GET", "/peers"), call("GET", "/swarms")]);
    const rows = peers.map((p) => {
      const caps = h("input", { type: "text", name: "grants", value: p.entry.allowed_capabilities.join(", ") });
      const rate = h("input", { type: "number", name: "rate", min: "1", value: p.entry.rate_limit_per_day });
      const expiry = h("input", { type: "text", name: "expires", value: p.entry.expires_at || "", placeholder: "never (or 2027-01-01T00:00:00Z)" });
      const address = h("input", { type: "url", name: "url", value: p.url || "", placeholder: "found by handle" });
      const swarm = h("select", { name: "swarm" }, swarms.map((s) => h("option", { value: s.name, selected: s.name === p.swarm }, s.name)));
      return h("li", { class: "card", "data-handle": p.entry.peer_handle },
        h("div", { class: "who" }, p.entry.peer_handle, " ", mark(p.handle_status)),
        h("div", { class: "small" }, "Fingerprint ", p.fingerprint),
        h("form", { class: "grid", onsubmit: async (e) => {
          e.preventDefault();
          const entry = {
            peer_pubkey: p.entry.peer_pubkey,
            peer_handle: p.entry.peer_handle,
            allowed_capabilities: caps.value.split(",").map((s) => s.trim()).filter(Boolean),
            rate_limit_per_day: Number(rate.value),
            expires_at: expiry.value.trim() || null,
            swarm: swarm.value,
          };
          if (address.value.trim()) entry.url = address.value.trim();
          await call("PUT", "/peers", entry);
          say(`Saved ${p.entry.peer_handle}.`);
          pages.peers();
        } },
          field("Grants (comma separated)", caps),
          field("Messages per day", rate),
          field("Expires", expiry),
          field("Answered by swarm", swarm),
          field("Address", address),
          h("button", { type: "submit", class: "save" }, "Save")));
    });
    section("Peers", rows.length ? h("ul", { class: "cards" }, rows) : empty("No peers yet."));
  },

  async conversations(id) {
    const { conversations } = await call("GET", "/conversations");
    const list = h("ul", { class: "list" }, conversations.map((c) =>
      h("li", {}, h("a", { href: `#conversations/${c.id}`, "aria-current": c.id === id ? "page" : false },
        c.peer_handle || c.peer_pubkey, " · ", c.topic, " · ", c.state))));
    const thread = h("ol", { class: "thread", "aria-live": "polite", id: "thread" });
    const compose = h("form", { class: "compose" });
    const current = conversations.find((c) => c.id === id);
    async function refresh() {
      const { messages } = await call("GET", `/messages?conversation=${encodeURIComponent(id)}`);
      thread.replaceChildren(...messages.map((m) =>
        h("li", { class: m.direction },
          h("span", { class: "small" }, m.direction === "in" ? (current.peer_handle || "them") : "you", " · ", when(m.at)),
          h("p", {}, (m.payload && m.payload.text) || ""))));
    }
    if (current) {
      const text = h("textarea", { rows: "2", name: "reply", required: true });
      compose.append(field("Reply", text), h("button", { type: "submit" }, "Send"));
      compose.addEventListener("submit", async (e) => {
        e.preventDefault();
        await call("POST", "/send", { to: current.peer_handle || current.peer_pubkey, text: text.value, topic: current.topic });
        text.value = "";
        say("Sent.");
        refresh();
      });
      await refresh();
      live = new EventSource(new URL("events", api));
      for (const kind of ["message", "reply"]) {
        live.addEventListener(kind, (e) => {
          const ev = JSON.parse(e.data);
          if (ev.conversation_id === id) refresh();
        });
      }
    }
    section("Conversations",
      conversations.length ? list : empty("No conversations yet."),
      current ? h("h2", {}, current.peer_handle || current.peer_pubkey) : null,
      current ? thread : null,
      current ? compose : null);
  },

  async drafts() {
    const { drafts } = await call("GET", "/drafts");
    const rows = drafts.map((d) => {
      const text = h("textarea", { rows: "4", name: "draft" });
      text.value = (d.payload && d.payload.text) || "";
      const original = text.value;
      return h("li", { class: "card", "data-id": String(d.id) },
        h("div", { class: "small" }, `Swarm ${d.swarm} · answers message ${d.in_reply_to} · ${when(d.created_at)}`),
        field("Draft reply", text),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "send", onclick: async () => {
            await call("POST", `/drafts/${d.id}/send`, text.value === original ? {} : { text: text.value });
            say("Draft sent.");
            pages.drafts();
          } }, "Send"),
          h("button", { type: "button", class: "discard", onclick: async () => {
            await call("POST", `/drafts/${d.id}/discard`);
            say("Draft discarded.");
            pages.drafts();
          } }, "Discard")));
    });
    section("Drafts awaiting review", rows.length ? h("ul", { class: "cards" }, rows) : empty("No drafts waiting."));
  },

  async swarms() {
    const { swarms } = await call("GET", "/swarms");
    const rows = await Promise.all(swarms.map(async (s) => {
      const { text: soulText } = await call("GET", `/swarms/${encodeURIComponent(s.name)}/soul`);
      const mode = h("select", { name: "mode" }, ["auto", "review", "off"].map((m) => h("option", { value: m, selected: m === s.mode }, m)));
      const budget = h("input", { type: "number", name: "budget", min: "0", value: s.budget_per_day });
      const brain = h("textarea", { rows: "3", name: "brain", class: "mono" });
      brain.value = JSON.stringify(s.brain);
      const soul = h("textarea", { rows: "4", name: "soul" });
      soul.value = soulText;
      return h("li", { class: "card", "data-name": s.name },
        h("div", { class: "who" }, s.name),
        h("div", { class: "small" }, `${s.used_today} of ${s.budget_per_day} answers used today · peers: ${s.peers.join(", ") || "none"}`),
        h("form", { class: "grid", onsubmit: async (e) => {
          e.preventDefault();
          let brainConfig;
          try { brainConfig = JSON.parse(brain.value); } catch { say("The brain is not valid JSON.", "error"); return; }
          await call("PATCH", `/swarms/${encodeURIComponent(s.name)}`, { mode: mode.value, budget_per_day: Number(budget.value), brain: brainConfig });
          await call("PUT", `/swarms/${encodeURIComponent(s.name)}/soul`, { text: soul.value });
          say(`Saved swarm ${s.name}.`);
          pages.swarms();
        } },
          field("Mode", mode),
          field("Answers per day", budget),
          field("Brain", brain),
          field("Soul (system prompt)", soul),
          h("button", { type: "submit", class: "save" }, "Save")));
    }));
    section("Swarms", h("ul", { class: "cards" }, rows));
  },

  async capabilities() {
    const { capabilities } = await call("GET", "/capabilities");
    const rows = capabilities.map((c) =>
      h("li", { class: "card" },
        h("div", { class: "who" }, c.name),
        h("div", {}, c.description),
        h("div", { class: "small" }, `${c.adapter.kind || "adapter"} · swarm ${c.swarm}`),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "deny", onclick: async () => {
            await call("DELETE", `/capabilities/${encodeURIComponent(c.name)}`);
            say(`Withdrew ${c.name}.`);
            pages.capabilities();
          } }, "Withdraw"))));
    section("Capabilities", rows.length ? h("ul", { class: "cards" }, rows) : empty("Nothing exposed. Expose a capability with sovra cap expose."));
  },

  async devices() {
    const { devices } = await call("GET", "/devices");
    const rows = devices.map((d) =>
      h("li", { class: "card" },
        h("div", { class: "who" }, d.label || "(no label)", " ", h("span", { class: "mark " + d.state }, d.state)),
        h("div", { class: "small" }, d.client_instance_id)));
    section("Devices",
      h("p", {}, "To end a device (this browser too), run ", h("code", {}, "sovra device detach ID"), " where the cloud key is."),
      rows.length ? h("ul", { class: "cards" }, rows) : empty("No devices attached."));
  },

  async card() {
    const me = await call("GET", "/whoami");
    section("Peering card",
      h("p", {}, "Someone next to you can scan this to add you as a peer."),
      h("figure", { class: "qr" },
        h("img", { src: "qr.svg", alt: `QR code of ${me.handle} and its key`, width: "240", height: "240" }),
        h("figcaption", {}, me.handle, h("br"), "Fingerprint ", h("code", {}, me.fingerprint))));
  },
};

async function route() {
  if (live) { live.close(); live = null; }
  say("");
  document.getElementById("elevate").replaceChildren();
  const [name, arg] = (location.hash.slice(1) || "pending").split("/");
  const page = pages[name] || pages.pending;
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", a.getAttribute("href") === "#" + name);
  }
  try {
    await page(arg && decodeURIComponent(arg));
  } catch (e) {
    say(e.message, "error");
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await fetch("logout", { method: "POST", headers: { "x-sovra-csrf": csrf }, credentials: "same-origin" });
  location.reload();
});
window.addEventListener("hashchange", route);
route();
