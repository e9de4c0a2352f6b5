// What both console pages share: the websocket their token opens, and the status line.
export function consoleWebsocketUrl() {
  const token = new URLSearchParams(location.search).get("token") || "";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/websockify?token=${encodeURIComponent(token)}`;
}

export function showStatus(state, text) {
  const status = document.getElementById("status");
  status.dataset.state = state;
  status.textContent = text;
}

export const REFUSED = "Connection refused or lost: ask for a new console URL";
