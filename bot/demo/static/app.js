// madoguchi demo page: renders what the fake LINE and Slack recorded, and acts through the demo's JSON API.
// Every click here becomes a signed webhook or Slack request to the bot's real endpoints.
"use strict";

const POLL_MS = 500;
const ui = {
  citizen: null,      // selected LINE user id
  staff: null,        // selected Slack user id
  channel: null,      // selected channel id, or "home"
  thread: null,       // {channel, ts} of the open thread
  menuOpen: true,     // rich menu shown
  seenChat: {},       // user id -> chat length seen (unread badges)
  seenChannel: {},    // channel id -> top-level count seen
  rendered: {},       // region -> key of what is on screen
};
let state = null;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    toast(`エラー: ${payload.error || response.status}`);
    throw new Error(payload.error || String(response.status));
  }
  await refresh();
  return payload;
}

function formatTime(date, withDate) {
  const options = { timeZone: state?.timezone || "Asia/Tokyo", hour: "2-digit", minute: "2-digit" };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit", weekday: "short" });
  return new Intl.DateTimeFormat("ja-JP", options).format(date);
}

// ---------------------------------------------------------------- Slack mrkdwn

const EMOJI = {
  memo: "📝", white_check_mark: "✅", warning: "⚠️", bell: "🔔", rotating_light: "🚨", hourglass: "⌛",
  hourglass_flowing_sand: "⏳", x: "❌", heavy_check_mark: "✔️", inbox_tray: "📥", speech_balloon: "💬",
  calendar: "📅", bust_in_silhouette: "👤", lock: "🔒", information_source: "ℹ️", exclamation: "❗",
  arrows_counterclockwise: "🔄", eyes: "👀", tada: "🎉", raising_hand: "🙋", email: "📧", phone: "📞",
};

function mrkdwn(wire) {
  const tokens = [];
  let text = String(wire ?? "").replace(/<([^<>]+)>/g, (_, inner) => {
    tokens.push(controlSequence(inner));
    return `\u0001${tokens.length - 1}\u0001`;
  });
  text = text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  text = esc(text);
  const blocks = [];
  text = text.replace(/```([\s\S]*?)```/g, (_, code) => {
    blocks.push(`<pre>${code.replace(/^\n/, "")}</pre>`);
    return `\u0002${blocks.length - 1}\u0002`;
  });
  text = text
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/(^|[\s(（「])\*([^*\n]+)\*/g, "$1<b>$2</b>")
    .replace(/(^|[\s(（「])_([^_\n]+)_/g, "$1<i>$2</i>")
    .replace(/(^|[\s(（「])~([^~\n]+)~/g, "$1<s>$2</s>")
    .replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] || all);
  text = text
    .split("\n")
    .map((line) => (line.startsWith("&gt; ") ? `<blockquote>${line.slice(5)}</blockquote>` : line))
    .join("\n")
    .replace(/\n/g, "<br>")
    .replace(/<\/blockquote><br>/g, "</blockquote>");
  return text
    .replace(/\u0002(\d+)\u0002/g, (_, i) => blocks[Number(i)])
    .replace(/\u0001(\d+)\u0001/g, (_, i) => tokens[Number(i)]);
}

function controlSequence(inner) {
  const [target, label] = inner.split("|", 2);
  const users = state?.slack.users || {};
  if (target.startsWith("@")) return `<span class="mention">@${esc(users[target.slice(1)] || target.slice(1))}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(label || channelLabel(target.slice(1)))}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1).split("^")[0])}</span>`;
  if (/^(https?:|mailto:|tel:)/.test(target)) {
    return `<a href="${esc(target)}" target="_blank" rel="noopener noreferrer">${esc(label || target)}</a>`;
  }
  return esc(`<${inner}>`);
}

function textObject(obj) {
  if (!obj) return "";
  if (obj.type === "mrkdwn") return mrkdwn(obj.text);
  return esc(obj.text).replace(/\n/g, "<br>");
}

// ---------------------------------------------------------------- Block Kit

function renderBlocks(blocks, where) {
  return blocks.map((block) => renderBlock(block, where)).filter(Boolean);
}

function renderBlock(block, where) {
  switch (block.type) {
    case "header":
      return el("div", { class: "block block-header", html: textObject(block.text) });
    case "divider":
      return el("hr", { class: "block-divider" });
    case "context":
      return el("div", { class: "block block-context", html: (block.elements || []).map((e) => (e.type === "image" ? "" : textObject(e))).join(" ") });
    case "section": {
      const body = el("div", { class: "block-main" });
      if (block.text) body.append(el("div", { class: "slack-text", html: textObject(block.text) }));
      if (block.fields) {
        body.append(el("div", { class: "block-fields" }, block.fields.map((f) => el("div", { class: "slack-text", html: textObject(f) }))));
      }
      const section = el("div", { class: "block block-section" }, body);
      if (block.accessory && block.accessory.type === "button") section.append(button(block.accessory, block, where));
      return section;
    }
    case "actions":
      return el("div", { class: "block block-actions" }, (block.elements || []).map((e) => (e.type === "button" ? button(e, block, where) : null)));
    case "input":
      return inputBlock(block, where);
    case "rich_text":
      return null;
    case "image":
      return el("div", { class: "block block-context" }, `[画像: ${block.alt_text || ""}]`);
    default:
      return el("div", { class: "block block-context" }, `[${block.type}]`);
  }
}

function button(element, block, where) {
  const label = element.text?.text || "button";
  const node = el("button", {
    type: "button",
    class: `block-button ${element.style || ""}`,
    dataset: { actionId: element.action_id || "", value: element.value || "" },
  }, label);
  node.addEventListener("click", async () => {
    node.disabled = true;
    try {
      await api("/api/slack/action", {
        user: ui.staff, action_id: element.action_id, value: element.value || "", block_id: block.block_id,
        text: label, ...where,
      });
    } catch (_) { /* toast shown */ } finally { node.disabled = false; }
  });
  return node;
}

function inputBlock(block, where) {
  const element = block.element || {};
  const id = `input-${block.block_id}-${element.action_id}`;
  const field = element.multiline
    ? el("textarea", { id, maxlength: element.max_length, dataset: { blockId: block.block_id, actionId: element.action_id } })
    : el("input", { id, type: "text", maxlength: element.max_length, dataset: { blockId: block.block_id, actionId: element.action_id } });
  field.value = element.initial_value || "";
  if (element.placeholder) field.placeholder = element.placeholder.text;
  const error = where.errors?.[block.block_id];
  return el("div", { class: "block input-block" },
    el("label", { for: id }, block.label?.text || "", block.optional ? "（任意）" : ""),
    field,
    block.hint ? el("div", { class: "input-hint" }, block.hint.text) : null,
    error ? el("div", { class: "input-error" }, error) : null);
}

// ---------------------------------------------------------------- LINE

function renderCitizens() {
  const box = $("citizens");
  const key = JSON.stringify(state.line.citizens.map((c) => [c.id, c.chat.length, ui.citizen]));
  if (ui.rendered.citizens === key) return;
  ui.rendered.citizens = key;
  box.replaceChildren(...state.line.citizens.map((c) => {
    const unread = c.id === ui.citizen ? 0 : c.chat.length - (ui.seenChat[c.id] ?? c.chat.length);
    return el("button", {
      type: "button", class: "citizen-tab", role: "tab", "aria-selected": String(c.id === ui.citizen),
      title: c.note, dataset: { user: c.id },
      onclick: () => { ui.citizen = c.id; ui.rendered = {}; render(); },
    }, c.name, unread > 0 ? el("span", { class: "badge" }, unread) : null);
  }));
}

function lineAction(action, label, className) {
  const node = el("button", { type: "button", class: className, dataset: { data: action.data || "", type: action.type } }, label ?? action.label ?? "");
  node.addEventListener("click", () => doLineAction(action));
  return node;
}

async function doLineAction(action) {
  const user = ui.citizen;
  if (action.type === "postback") {
    await api("/api/line/postback", { user, data: action.data, display: action.displayText || null }).catch(() => {});
  } else if (action.type === "message") {
    await api("/api/line/text", { user, text: action.text }).catch(() => {});
  } else if (action.type === "uri") {
    toast(`リンク先（デモでは開きません）: ${action.uri}`);
  } else {
    toast(`このデモでは未対応の操作です: ${action.type}`);
  }
}

function flexNode(node) {
  if (!node) return null;
  switch (node.type) {
    case "box":
      return el("div", { class: `flex-box ${node.layout || ""}` }, (node.contents || []).map(flexNode));
    case "text":
      return el("div", { class: `flex-text ${node.weight === "bold" ? "bold" : ""} ${node.size === "sm" || node.size === "xs" ? "sm" : ""}` }, node.text || "");
    case "button":
      return lineAction(node.action, node.action?.label, `flex-button line-action ${node.style || ""}`);
    case "separator":
      return el("hr");
    default:
      return null;
  }
}

function flexBubble(bubble) {
  return el("div", { class: "flex-bubble" },
    bubble.header ? el("div", { class: "flex-body" }, flexNode(bubble.header)) : null,
    bubble.body ? el("div", { class: "flex-body" }, flexNode(bubble.body)) : null,
    bubble.footer ? el("div", { class: "flex-footer" }, (bubble.footer.contents || []).map(flexNode)) : null);
}

function lineMessage(message) {
  switch (message.type) {
    case "text":
      return el("div", { class: "bubble line-msg bot" }, message.text);
    case "template": {
      const t = message.template || {};
      if (t.type === "confirm") {
        return el("div", { class: "template line-msg bot" }, el("div", { class: "template-text" }, t.text),
          el("div", { class: "template-actions" }, (t.actions || []).map((a) => lineAction(a, a.label, "line-action"))));
      }
      if (t.type === "buttons") {
        return el("div", { class: "template line-msg bot" },
          el("div", { class: "template-text" }, t.title ? el("b", {}, t.title, el("br")) : null, t.text),
          el("div", { class: "template-actions vertical" }, (t.actions || []).map((a) => lineAction(a, a.label, "line-action"))));
      }
      if (t.type === "carousel") {
        return el("div", { class: "carousel line-msg bot" }, (t.columns || []).map((c) => el("div", { class: "template" },
          el("div", { class: "template-text" }, c.title ? el("b", {}, c.title, el("br")) : null, c.text),
          el("div", { class: "template-actions vertical" }, (c.actions || []).map((a) => lineAction(a, a.label, "line-action"))))));
      }
      return el("div", { class: "bubble line-msg bot" }, message.altText || "[テンプレート]");
    }
    case "flex": {
      const c = message.contents || {};
      if (c.type === "carousel") return el("div", { class: "carousel line-msg bot" }, (c.contents || []).map(flexBubble));
      return el("div", { class: "line-msg bot" }, flexBubble(c));
    }
    case "sticker":
      return el("div", { class: "bubble line-msg bot" }, "［スタンプ］");
    default:
      return el("div", { class: "bubble line-msg bot" }, message.altText || `[${message.type}]`);
  }
}

function renderChat() {
  const citizen = state.line.citizens.find((c) => c.id === ui.citizen);
  if (!citizen) return;
  ui.seenChat[citizen.id] = citizen.chat.length;
  const key = `${citizen.id}:${JSON.stringify(citizen.chat).length}:${citizen.chat.length}`;
  if (ui.rendered.chat === key) return;
  ui.rendered.chat = key;
  const box = $("chat");
  const rows = citizen.chat.map((entry) => {
    if (entry.from === "user") return el("div", { class: "line-row user" }, el("div", { class: "bubble line-msg user" }, entry.text));
    return el("div", { class: "line-row bot" }, el("div", { class: "line-avatar" }, "窓口"), lineMessage(entry.message),
      el("span", { class: "line-via", title: "LINE に送られた方法（reply は無料、push は月の上限に数えられます）" }, entry.via));
  });
  if (!rows.length) rows.push(el("div", { class: "line-empty" }, "下のメニューから「相談する」を押すか、メッセージを送ってください。"));
  box.replaceChildren(...rows);
  box.scrollTop = box.scrollHeight;
  // Quick replies belong to the last message and vanish once the citizen sends anything.
  const last = citizen.chat[citizen.chat.length - 1];
  const items = last && last.from === "bot" ? last.message.quickReply?.items || [] : [];
  $("quick-replies").replaceChildren(...items.map((item) => lineAction(item.action, item.action.label, "quick-reply")));
}

function renderRichMenu() {
  const menu = state.line.rich_menu;
  const box = $("richmenu");
  $("chatbar").hidden = !menu;
  $("menu-toggle").hidden = !menu;
  if (!menu) { box.hidden = true; return; }
  $("chatbar").textContent = `${menu.chatBarText || "メニュー"} ${ui.menuOpen ? "▾" : "▴"}`;
  box.hidden = !ui.menuOpen;
  if (ui.rendered.richmenu === menu.id) return;
  ui.rendered.richmenu = menu.id;
  const image = $("richmenu-image");
  image.style.backgroundImage = `url("/api/richmenu.png?${encodeURIComponent(menu.id)}")`;
  image.style.paddingTop = `${(menu.size.height / menu.size.width) * 100}%`;
  image.replaceChildren(...(menu.areas || []).map((area) => {
    const b = area.bounds;
    const node = lineAction(area.action, "", "richmenu-area");
    node.setAttribute("aria-label", area.action.label || area.action.displayText || area.action.text || "");
    node.title = node.getAttribute("aria-label");
    Object.assign(node.style, {
      left: `${(b.x / menu.size.width) * 100}%`, top: `${(b.y / menu.size.height) * 100}%`,
      width: `${(b.width / menu.size.width) * 100}%`, height: `${(b.height / menu.size.height) * 100}%`,
    });
    return node;
  }));
}

// ---------------------------------------------------------------- Slack

function channelLabel(id) {
  const channel = state?.slack.channels.find((c) => c.id === id);
  return channel ? channel.label : id;
}

function topLevel(channel) {
  return state.slack.messages.filter((m) => m.channel === channel && (!m.thread_ts || m.thread_ts === m.ts));
}

function replies(channel, ts) {
  return state.slack.messages.filter((m) => m.channel === channel && m.thread_ts === ts && m.ts !== ts);
}

function renderSidebar() {
  const s = state.slack;
  $("workspace").textContent = s.team;
  const select = $("staff");
  if (!select.options.length) {
    for (const person of s.staff) select.append(el("option", { value: person.id }, `${person.name}（${person.note}）`));
    select.value = ui.staff;
  }
  const groups = [["cases", "相談チャンネル"], ["events", "イベント・ネットワーク会議"], ["alerts", "エスカレーション・運用"], ["wards", "区民活動支援センター"], ["other", "その他"]];
  const key = JSON.stringify([ui.channel, s.channels.map((c) => [c.id, topLevel(c.id).length, ui.seenChannel[c.id]])]);
  $("home-link").classList.toggle("active", ui.channel === "home");
  if (ui.rendered.sidebar === key) return;
  ui.rendered.sidebar = key;
  const list = [];
  for (const [group, title] of groups) {
    const channels = s.channels.filter((c) => c.group === group);
    if (!channels.length) continue;
    list.push(el("div", { class: "nav-group" }, title));
    for (const c of channels) {
      const count = topLevel(c.id).length;
      const unread = c.id === ui.channel ? 0 : count - (ui.seenChannel[c.id] ?? 0);
      list.push(el("button", {
        type: "button", class: `nav-item channel ${c.id === ui.channel ? "active" : ""} ${unread > 0 ? "unread" : ""}`,
        dataset: { channel: c.id }, title: c.id,
        onclick: () => { ui.channel = c.id; ui.thread = null; ui.rendered = {}; render(); },
      }, `# ${c.label}`, unread > 0 ? el("span", { class: "nav-count" }, unread) : null));
    }
  }
  $("channel-list").replaceChildren(...list);
}

function slackMessage(m, { inThread = false } = {}) {
  const users = state.slack.users;
  const isBot = Boolean(m.bot_id);
  const name = isBot ? "madoguchi" : users[m.user] || m.user;
  const where = { channel: m.channel, ts: m.ts };
  const body = el("div", { class: "slack-body" },
    el("div", { class: "slack-meta" }, el("span", { class: "slack-name" }, name), isBot ? el("span", { class: "app-badge" }, "アプリ") : null,
      el("span", { class: "slack-time" }, formatTime(new Date(Number(m.ts) * 1000), false)), m.edited ? el("span", { class: "edited" }, "（編集済み）") : null));
  if (m.blocks && m.blocks.length && m.blocks.some((b) => b.type !== "rich_text")) body.append(...renderBlocks(m.blocks, where));
  else body.append(el("div", { class: "slack-text", html: mrkdwn(m.text) }));
  if (m.reactions) body.append(el("div", { class: "reactions" }, m.reactions.map((r) => el("span", { class: "reaction" }, `${EMOJI[r.name] || `:${r.name}:`} ${r.count}`))));
  if (!inThread && m.reply_count) {
    body.append(el("button", {
      type: "button", class: "thread-link", dataset: { ts: m.ts },
      onclick: () => { ui.thread = { channel: m.channel, ts: m.ts }; ui.rendered.thread = null; render(); },
    }, `${m.reply_count}件の返信`));
  } else if (!inThread && isBot) {
    body.append(el("button", {
      type: "button", class: "thread-link start-thread", dataset: { ts: m.ts },
      onclick: () => { ui.thread = { channel: m.channel, ts: m.ts }; ui.rendered.thread = null; render(); },
    }, "スレッドで返信する"));
  }
  return el("div", { class: "slack-msg", dataset: { ts: m.ts, channel: m.channel } },
    el("div", { class: `slack-avatar ${isBot ? "bot" : ""}` }, isBot ? "窓" : name.slice(0, 1)), body);
}

function privateNote(n) {
  const body = el("div", { class: "slack-body" },
    el("div", { class: "slack-meta" }, el("span", { class: "slack-name" }, n.text.startsWith("`/") ? (state.slack.users[ui.staff] || "") : "madoguchi"),
      el("span", { class: "ephemeral-note" }, "あなただけに表示されています")));
  if (n.blocks && n.blocks.length) body.append(...renderBlocks(n.blocks, { channel: n.channel, ts: n.ts }));
  else body.append(el("div", { class: "slack-text", html: mrkdwn(n.text) }));
  return el("div", { class: "slack-msg ephemeral" }, el("div", { class: "slack-avatar bot" }, "窓"), body);
}

function renderChannel() {
  const s = state.slack;
  const header = $("channel-header");
  const box = $("messages");
  $("channel-form").hidden = ui.channel === "home";
  if (ui.channel === "home") {
    const view = s.home[ui.staff];
    const key = `home:${ui.staff}:${view ? view.hash : ""}`;
    if (ui.rendered.channel === key) return;
    ui.rendered.channel = key;
    header.replaceChildren("madoguchi ホーム", el("small", {}, "App Home"));
    box.replaceChildren(view ? el("div", { class: "home" }, renderBlocks(view.blocks, { view_id: view.id })) : el("div", { class: "empty" }, "読み込み中…"));
    return;
  }
  const messages = topLevel(ui.channel);
  ui.seenChannel[ui.channel] = messages.length;
  const notes = [...s.ephemerals.filter((e) => e.user === ui.staff && e.channel === ui.channel && !e.thread_ts),
    ...s.notices.filter((n) => (n.user === ui.staff || n.user === null) && (n.channel === ui.channel || n.channel === null))];
  const key = JSON.stringify([ui.channel, ui.staff, messages, notes.length]);
  if (ui.rendered.channel === key) return;
  ui.rendered.channel = key;
  header.replaceChildren(`# ${channelLabel(ui.channel)}`, el("small", {}, ui.channel));
  const nodes = messages.map((m) => slackMessage(m));
  nodes.push(...notes.map(privateNote));
  if (!nodes.length) nodes.push(el("div", { class: "empty" }, "まだメッセージはありません。"));
  box.replaceChildren(...nodes);
  box.scrollTop = box.scrollHeight;
}

function renderThread() {
  const pane = $("thread");
  if (!ui.thread || ui.channel === "home") { pane.hidden = true; return; }
  pane.hidden = false;
  const root = state.slack.messages.find((m) => m.channel === ui.thread.channel && m.ts === ui.thread.ts);
  const list = replies(ui.thread.channel, ui.thread.ts);
  const notes = state.slack.ephemerals.filter((e) => e.user === ui.staff && e.channel === ui.thread.channel && e.thread_ts === ui.thread.ts);
  const key = JSON.stringify([ui.thread, root, list, notes.length]);
  if (ui.rendered.thread === key) return;
  ui.rendered.thread = key;
  const box = $("thread-messages");
  box.replaceChildren(
    root ? el("div", { class: "thread-root" }, slackMessage(root, { inThread: true })) : null,
    ...list.map((m) => slackMessage(m, { inThread: true })),
    ...notes.map(privateNote));
  box.scrollTop = box.scrollHeight;
  $("thread-hint").textContent = `「${state.reply_prefix}」で始めると相談者に送信されます。それ以外は内部メモです。`;
}

function renderModal() {
  const backdrop = $("modal");
  const open = state.slack.views.filter((v) => v.user === ui.staff);
  const current = open[open.length - 1];
  if (!current) { backdrop.hidden = true; ui.rendered.modal = null; return; }
  const view = current.view;
  const key = `${view.id}:${view.hash}:${JSON.stringify(current.errors)}`;
  backdrop.hidden = false;
  if (ui.rendered.modal === key) return;
  ui.rendered.modal = key;
  const where = { view_id: view.id, errors: current.errors };
  const close = () => api("/api/slack/close", { user: ui.staff, view_id: view.id }).catch(() => {});
  const submit = async (event) => {
    event.preventDefault();
    const values = {};
    for (const field of backdrop.querySelectorAll("[data-block-id]")) {
      values[field.dataset.blockId] = { ...(values[field.dataset.blockId] || {}), [field.dataset.actionId]: field.value };
    }
    const buttonNode = backdrop.querySelector(".modal-submit");
    buttonNode.disabled = true;
    try { await api("/api/slack/submit", { user: ui.staff, view_id: view.id, values }); } catch (_) { buttonNode.disabled = false; }
  };
  const form = el("form", { class: "modal", role: "dialog", "aria-label": view.title?.text || "", onsubmit: submit },
    el("div", { class: "modal-title" }, view.title?.text || "", el("button", { type: "button", class: "icon", onclick: close, "aria-label": "閉じる" }, "×")),
    el("div", { class: "modal-body" }, renderBlocks(view.blocks || [], { view_id: view.id, errors: current.errors }).map((n) => n)),
    el("div", { class: "modal-footer" },
      el("button", { type: "button", class: "modal-close", onclick: close }, view.close?.text || "キャンセル"),
      view.submit ? el("button", { type: "submit", class: "modal-submit" }, view.submit.text) : null));
  void where;
  backdrop.replaceChildren(form);
  const first = form.querySelector("textarea, input");
  if (first) first.focus();
}

// ---------------------------------------------------------------- main loop

function render() {
  if (!state) return;
  $("center-name").textContent = state.center;
  $("phone-title").textContent = state.center;
  $("clock-now").textContent = formatTime(new Date(state.now), true);
  const h = Math.floor(state.offset_minutes / 60), m = state.offset_minutes % 60;
  $("clock-offset").textContent = state.offset_minutes ? `（実時間より +${h ? `${h}時間` : ""}${m ? `${m}分` : ""}）` : "";
  renderCitizens();
  renderChat();
  renderRichMenu();
  renderSidebar();
  renderChannel();
  renderThread();
  renderModal();
}

async function refresh() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (!response.ok) return;
    state = await response.json();
    if (!ui.citizen) ui.citizen = state.line.citizens[0]?.id;
    if (!ui.staff) ui.staff = state.slack.staff[0]?.id;
    if (!ui.channel) ui.channel = state.slack.channels[0]?.id;
    render();
  } catch (_) {
    /* the demo stopped: keep the last picture */
  }
}

function wire() {
  $("line-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("line-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await api("/api/line/text", { user: ui.citizen, text }).catch(() => { input.value = text; });
  });
  const toggle = () => { ui.menuOpen = !ui.menuOpen; render(); };
  $("menu-toggle").addEventListener("click", toggle);
  $("chatbar").addEventListener("click", toggle);
  $("staff").addEventListener("change", (event) => {
    ui.staff = event.target.value;
    ui.rendered = {};
    if (ui.channel === "home") api("/api/slack/home", { user: ui.staff }).catch(() => {});
    render();
  });
  $("home-link").addEventListener("click", () => {
    ui.channel = "home";
    ui.thread = null;
    ui.rendered = {};
    api("/api/slack/home", { user: ui.staff }).catch(() => {});
    render();
  });
  $("channel-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("channel-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    const command = text.match(/^\/madoguchi(?:\s+([\s\S]*))?$/);
    const call = command
      ? api("/api/slack/command", { user: ui.staff, channel: ui.channel, text: command[1] || "" })
      : api("/api/slack/message", { user: ui.staff, channel: ui.channel, text });
    await call.catch(() => { input.value = text; });
  });
  $("thread-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("thread-input");
    const text = input.value.trim();
    if (!text || !ui.thread) return;
    input.value = "";
    await api("/api/slack/message", { user: ui.staff, channel: ui.thread.channel, text, thread_ts: ui.thread.ts })
      .catch(() => { input.value = text; });
  });
  $("thread-close").addEventListener("click", () => { ui.thread = null; render(); });
  for (const node of document.querySelectorAll(".clock-step")) {
    node.addEventListener("click", async () => {
      const result = await api("/api/clock", { minutes: Number(node.dataset.minutes) }).catch(() => null);
      if (result) toast(`時計を進めました（途中の相談への声かけ ${result.nudged} 件、未対応の案件 ${result.escalated} 件）`);
    });
  }
}

wire();
refresh();
setInterval(refresh, POLL_MS);
