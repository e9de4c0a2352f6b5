// The dashboard's only script (the Content-Security-Policy allows no inline code): the image
// upload with its progress bar, and the server list's rows following the live feed.
"use strict";

function csrfToken() {
  return document.body.dataset.csrftoken;
}

function setUpUpload(form) {
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const file = data.get("file");
    const query = new URLSearchParams({
      name: data.get("name"),
      disk_format: data.get("disk_format"),
      visibility: data.get("visibility"),
    });
    const request = new XMLHttpRequest();
    request.open("PUT", form.dataset.uploadUrl + "?" + query.toString());
    request.setRequestHeader("x-csrftoken", csrfToken());
    request.setRequestHeader("content-type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = Math.floor((e.loaded * 100) / e.total);
      }
    });
    request.addEventListener("load", () => {
      if (request.status === 200) {
        bar.value = 100;
        window.location.assign("/images");
      } else {
        let message = request.statusText;
        try {
          message = JSON.parse(request.responseText).error || message;
        } catch (_) {
          // not JSON: keep the status text
        }
        status.textContent = message;
      }
    });
    request.addEventListener("error", () => {
      status.textContent = "upload failed";
    });
    form.querySelector("button[type=submit]").disabled = true;
    request.send(file);
  });
}

function rowFrom(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim(); // rendered and escaped by the server's templates
  return template.content.firstElementChild;
}

function followServers(table) {
  const tbody = table.tBodies[0];
  const source = new EventSource(table.dataset.events);
  source.addEventListener("server", (event) => {
    const change = JSON.parse(event.data);
    const current = document.getElementById("server-" + change.id);
    if (change.status === "DELETED") {
      if (current) current.remove();
      return;
    }
    const row = rowFrom(change.html);
    if (current) {
      current.replaceWith(row);
    } else if (table.dataset.liveInsert === "yes") {
      tbody.prepend(row);
    }
  });
  source.addEventListener("ended", () => {
    source.close();
    window.location.reload();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const upload = document.getElementById("upload-form");
  if (upload) setUpUpload(upload);
  const servers = document.getElementById("servers");
  if (servers && servers.dataset.events) followServers(servers);
});
