// strata's built-in chat page: keeps the conversation, streams replies from
// /v1/chat/completions (server-sent events over fetch), shows reasoning collapsed.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];  // {role, content} sent with every request
let controller = null;  // AbortController of the reply being streamed

const settings = {
  load() {
    for (const id of ["temperature", "max-tokens", "system-prompt", "api-key"]) {
      const saved = localStorage.getItem("strata." + id);
      if (saved !== null) $(id).value = saved;
      $(id).addEventListener("change", () => localStorage.setItem("strata." + id, $(id).value));
    }
  },
  headers() {
    const headers = { "Content-Type": "application/json" };
    const key = $("api-key").value.trim();
    if (key) headers["Authorization"] = "Bearer " + key;
    return headers;
  },
};

function setStatus(text) { $("status").textContent = text; }

function addMessage(role, text) {
  const box = document.createElement("div");
  box.className = "message " + role;
  const label = document.createElement("div");
  label.className = "role";
  label.textContent = role;
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = text;
  box.append(label, content);
  $("conversation").append(box);
  box.scrollIntoView({ block: "end" });
  return { box, content, reasoning: null };
}

// The collapsed <details> that holds a reply's reasoning, created on its first token.
function reasoningBlock(view) {
  if (!view.reasoning) {
    const details = document.createElement("details");
    details.className = "reasoning";
    const summary = document.createElement("summary");
    summary.textContent = "Reasoning";
    const text = document.createElement("div");
    text.className = "text";
    details.append(summary, text);
    view.box.insertBefore(details, view.content);
    view.reasoning = text;
  }
  return view.reasoning;
}

// Splits a growing SSE text into complete events; returns the unfinished rest.
function takeEvents(buffer, onData) {
  buffer = buffer.replace(/\r\n/g, "\n");
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length) onData(data.join("\n"));
  }
  return buffer;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return "HTTP " + response.status;
}

async function send(text) {
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const view = addMessage("assistant", "");
  const messages = [];
  const system = $("system-prompt").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...history);

  const body = { messages, stream: true, stream_options: { include_usage: true } };
  const temperature = parseFloat($("temperature").value);
  if (!Number.isNaN(temperature)) body.temperature = temperature;
  const maxTokens = parseInt($("max-tokens").value, 10);
  if (maxTokens > 0) body.max_tokens = maxTokens;

  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  setStatus("generating…");
  let answer = "";
  let finish = null;
  let usage = null;
  try {
    const response = await fetch("v1/chat/completions", {
      method: "POST", headers: settings.headers(), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) throw new Error(await errorText(response));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const chunk = await reader.read();
      if (chunk.done) break;
      buffer = takeEvents(buffer + decoder.decode(chunk.value, { stream: true }), (data) => {
        if (data === "[DONE]") { done = true; return; }
        const event = JSON.parse(data);
        if (event.error) throw new Error(event.error.message);
        if (event.usage) usage = event.usage;
        const choice = event.choices && event.choices[0];
        if (!choice) return;
        const delta = choice.delta || {};
        if (delta.reasoning_content) reasoningBlock(view).textContent += delta.reasoning_content;
        if (delta.content) { answer += delta.content; view.content.textContent = answer; }
        if (choice.finish_reason) finish = choice.finish_reason;
      });
      view.box.scrollIntoView({ block: "end" });
    }
    setStatus(usage ? `${usage.completion_tokens} tokens, finish: ${finish}` : `finish: ${finish}`);
  } catch (err) {
    if (err.name === "AbortError") {
      setStatus("stopped");
    } else {
      view.box.classList.add("error");
      view.content.textContent = (answer ? answer + "\n\n" : "") + "Error: " + err.message;
      setStatus("error");
    }
  } finally {
    history.push({ role: "assistant", content: answer });
    controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

async function loadModelName() {
  try {
    const response = await fetch("v1/models", { headers: settings.headers() });
    if (!response.ok) throw new Error(await errorText(response));
    const list = await response.json();
    $("model-name").textContent = list.data && list.data.length ? list.data[0].id : "no model";
  } catch (err) {
    $("model-name").textContent = "model unknown (" + err.message + ")";
  }
}

settings.load();
$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || controller) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("new-chat").addEventListener("click", () => {
  if (controller) controller.abort();
  history.length = 0;
  $("conversation").textContent = "";
  setStatus("");
});
$("api-key").addEventListener("change", loadModelName);
loadModelName();
