// The review page without reloads: "viewed" ticks sent with fetch, hidden lines fetched into
// the diff, a click on a line number aims the line comment form, and keys: j / k next /
// previous file, n / p next / previous request waiting on you. Every action also works as a
// plain form or link when this script does not run.
"use strict";

(function () {
  function ticked(form, answer) {
    const file = form.closest("details.file");
    const button = form.querySelector("button");
    let viewed = form.querySelector('input[name="viewed"]');
    if (!viewed) {
      viewed = document.createElement("input");
      viewed.type = "hidden";
      viewed.name = "viewed";
      form.insertBefore(viewed, button);
    }
    viewed.value = answer.ticked ? "0" : "1";
    button.textContent = answer.ticked ? "Viewed \u2713 (undo)" : "Mark as viewed";
    button.setAttribute("aria-pressed", answer.ticked ? "true" : "false");
    file.classList.toggle("is-viewed", answer.ticked);
    for (const [name, value] of Object.entries(answer)) {
      document.querySelectorAll(`[data-count="${name}"]`).forEach((el) => { el.textContent = String(value); });
    }
    const note = document.getElementById("unviewed-note");
    if (note) {
      note.hidden = answer.unviewed.length === 0;
      const shown = answer.unviewed.slice(0, 20).join(", ");
      const more = answer.unviewed.length > 20 ? ` and ${answer.unviewed.length - 20} more` : "";
      document.getElementById("unviewed-list").textContent = shown + more;
    }
    if (answer.ticked) file.open = false;
  }

  function fail(form, message) {
    let note = form.querySelector(".tick-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "tick-error flash-error";
      form.appendChild(note);
    }
    note.textContent = " " + message;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList || !form.classList.contains("viewed-form")) return;
    event.preventDefault();
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      const answer = await response.json();
      if (!response.ok) fail(form, answer.error || `HTTP ${response.status}`);
      else ticked(form, answer);
    } catch (error) {
      form.submit();
    }
  });

  document.addEventListener("click", async (event) => {
    const link = event.target.closest && event.target.closest("a.expand");
    if (link) {
      event.preventDefault();
      const url = new URL(link.href);
      url.searchParams.set("fragment", "1");
      const response = await fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
      const row = link.closest("tr");
      if (!response.ok) {
        link.replaceWith(document.createTextNode("No more lines to show here."));
        return;
      }
      const body = document.createElement("tbody");
      body.innerHTML = await response.text();
      for (const line of Array.from(body.children)) row.parentNode.insertBefore(line, row);
      row.remove();
      return;
    }
    const number = event.target.closest && event.target.closest("td.no");
    const row = number && number.closest("tr");
    if (number && number.textContent.trim() && row && !row.classList.contains("hunk")) {
      const file = number.closest("details.file");
      const link = file && file.querySelector(".comment-link a");
      const form = document.getElementById("line-comment-form");
      if (!link || !form) return;
      const target = new URL(link.href).searchParams;
      const side = Array.from(row.querySelectorAll("td.no")).indexOf(number) === 0 ? "old" : "new";
      form.querySelector('input[name="item"]').value = target.get("item");
      form.querySelector('input[name="path"]').value = target.get("path");
      form.querySelector('select[name="side"]').value = side;
      form.querySelector('input[name="line"]').value = number.textContent.trim();
      let slot = document.getElementById("comment-slot");
      if (!slot) {
        slot = document.createElement("tr");
        slot.id = "comment-slot";
        const cell = document.createElement("td");
        cell.colSpan = 4;
        slot.appendChild(cell);
      }
      slot.firstChild.appendChild(form);
      row.after(slot);
      form.hidden = false;
      form.querySelector("textarea").focus();
    }
  });

  function files() {
    return Array.from(document.querySelectorAll("details.file"));
  }

  function current(list) {
    const top = 80;
    let best = -1;
    list.forEach((el, index) => { if (el.getBoundingClientRect().top <= top) best = index; });
    return best;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "j" || event.key === "k") {
      const list = files();
      if (!list.length) return;
      const at = list.indexOf(document.querySelector("details.file.is-current"));
      const from = at >= 0 ? at : current(list);
      const next = event.key === "j" ? Math.min(from + 1, list.length - 1) : Math.max(from - 1, 0);
      const file = list[next];
      file.scrollIntoView({ block: "start" });
      file.querySelector("summary").focus();
      document.querySelectorAll("details.file.is-current").forEach((el) => el.classList.remove("is-current"));
      file.classList.add("is-current");
      event.preventDefault();
    } else if (event.key === "n" || event.key === "p") {
      const link = document.querySelector(`a[data-key="${event.key}"]`);
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    }
  });
})();
