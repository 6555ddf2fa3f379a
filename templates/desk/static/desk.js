/* The editor's desk: the screening page's keyboard and mouse.
 *
 * The list is rendered by the server as escaped HTML; this script never builds markup from
 * text (no innerHTML): it only toggles attributes and classes and sets textContent.
 *
 *   j / ArrowDown   next paper (a paper moved past without a decision is logged "seen")
 *   k / ArrowUp     previous paper
 *   y / space       pick ("downloaded"), then next
 *   n               skip ("seen"), then next
 *   o / Enter       show or hide the abstract (it closes when the cursor moves on)
 *   u               undo the last decision
 *
 * Decisions are POSTed one after another (in order) with the session's CSRF token;
 * body[data-pending] counts the ones not yet answered.
 */
(function () {
  "use strict";

  var list = document.getElementById("list");
  var toolbar = document.getElementById("toolbar");
  if (!list || !toolbar) return;

  var meta = document.querySelector('meta[name="csrf"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var url = toolbar.getAttribute("data-desk") + "/" + toolbar.getAttribute("data-week") + "/label";
  var progress = document.getElementById("progress");
  var status = document.getElementById("status");
  var shown = document.getElementById("shown");
  var catBox = document.getElementById("cat");
  var termBox = document.getElementById("term");
  var showBox = document.getElementById("show");
  var rows = list.children;
  var cursor = -1;
  var history = [];
  var pending = 0;
  var queue = Promise.resolve();
  var texts = null;

  function fmt(n) {
    return Number(n).toLocaleString("en-US");
  }

  function setPending(delta) {
    pending += delta;
    document.body.setAttribute("data-pending", String(pending));
  }

  function say(text) {
    status.textContent = text;
  }

  function post(id, label) {
    setPending(1);
    var body = new URLSearchParams();
    body.set("paper_id", id);
    body.set("label", label);
    queue = queue
      .then(function () {
        return fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf },
          body: body,
        });
      })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
          progress.textContent = fmt(data.screened) + " of " + fmt(data.total) + " screened";
        });
      })
      .catch(function (error) {
        say("Not saved: " + error.message);
      })
      .then(function () {
        setPending(-1);
      });
  }

  function labelOf(row) {
    return row.getAttribute("data-label") || "";
  }

  var STRENGTH = { "": 0, seen: 1, downloaded: 2, kept: 3 };

  /* The server keeps a paper's strongest label, so a weaker one replaces it by undo first. */
  function setLabel(row, before, label) {
    var id = row.getAttribute("data-id");
    row.setAttribute("data-label", label);
    if (STRENGTH[label] < STRENGTH[before]) post(id, "undo");
    if (label) post(id, label);
  }

  function decide(row, label) {
    var before = labelOf(row);
    if (before === label) return;
    history.push({ row: row, before: before });
    setLabel(row, before, label);
  }

  function undo() {
    var last = history.pop();
    if (!last) {
      say("Nothing to undo.");
      return;
    }
    setLabel(last.row, labelOf(last.row), last.before);
    moveTo(indexOf(last.row));
  }

  function indexOf(row) {
    return Array.prototype.indexOf.call(rows, row);
  }

  function visible(i) {
    return i >= 0 && i < rows.length && !rows[i].hidden;
  }

  function moveTo(i) {
    if (!visible(i)) return;
    var left = cursor >= 0 ? rows[cursor] : null;
    if (left && i !== cursor) {
      left.classList.remove("current");
      var more = left.querySelector(".more");
      if (more) more.hidden = true; /* an abstract closes when the cursor moves on */
    }
    cursor = i;
    rows[i].classList.add("current");
    rows[i].scrollIntoView({ block: "nearest" });
  }

  function step(delta) {
    for (var i = cursor + delta; i >= 0 && i < rows.length; i += delta) {
      if (visible(i)) {
        moveTo(i);
        return true;
      }
    }
    return false;
  }

  function current() {
    return visible(cursor) ? rows[cursor] : null;
  }

  function toggleAbstract(row) {
    var more = row.querySelector(".more");
    if (more) more.hidden = !more.hidden;
  }

  function act(name) {
    var row = current();
    if (name === "undo") return undo();
    if (name === "prev") return step(-1);
    if (!row) {
      step(1);
      return;
    }
    if (name === "next") {
      if (!labelOf(row)) decide(row, "seen");
      step(1);
    } else if (name === "pick") {
      decide(row, "downloaded");
      step(1);
    } else if (name === "skip") {
      decide(row, "seen");
      step(1);
    } else if (name === "open") {
      toggleAbstract(row);
    }
  }

  var KEYS = {
    j: "next", ArrowDown: "next", k: "prev", ArrowUp: "prev", y: "pick", " ": "pick",
    n: "skip", o: "open", Enter: "open", u: "undo",
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || tag === "BUTTON") {
      if (event.key === "Escape" && event.target.blur) event.target.blur();
      return;
    }
    var name = KEYS[event.key];
    if (!name) return;
    event.preventDefault();
    act(name);
  });

  list.addEventListener("click", function (event) {
    var row = event.target.closest ? event.target.closest(".cand") : null;
    if (!row) return;
    moveTo(indexOf(row));
    if (event.target.closest("a.title")) {
      decide(row, "downloaded"); /* clicking a title downloads the paper: a pick */
    } else if (!event.target.closest("a")) {
      toggleAbstract(row);
    }
  });

  document.getElementById("actions").addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button") : null;
    if (!button) return;
    act(button.getAttribute("data-act"));
    button.blur();
  });

  function textOf(i) {
    if (!texts) texts = [];
    if (texts[i] === undefined) texts[i] = rows[i].textContent.toLowerCase();
    return texts[i];
  }

  function applyFilters() {
    var cat = catBox.value;
    var term = termBox.value.trim().toLowerCase();
    var show = showBox.value;
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var ok = true;
      if (cat) ok = (" " + row.getAttribute("data-cats") + " ").indexOf(" " + cat + " ") >= 0;
      if (ok && show === "open") ok = !labelOf(row);
      if (ok && show === "picked") ok = labelOf(row) === "downloaded" || labelOf(row) === "kept";
      if (ok && term) ok = textOf(i).indexOf(term) >= 0;
      row.hidden = !ok;
      if (ok) count++;
    }
    var filtering = cat || term || show;
    shown.textContent = filtering ? fmt(count) + " shown" : "";
    if (!visible(cursor)) {
      var from = cursor;
      cursor = -1;
      if (from >= 0 && rows[from]) rows[from].classList.remove("current");
      step(1);
    }
  }

  var timer = 0;
  termBox.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(applyFilters, 120);
  });
  catBox.addEventListener("change", applyFilters);
  showBox.addEventListener("change", applyFilters);

  setPending(0);
  for (var i = 0; i < rows.length; i++) {
    if (!labelOf(rows[i])) {
      cursor = i - 1;
      break;
    }
  }
  if (rows.length) {
    if (!step(1)) {
      cursor = -1;
      step(1);
    }
    if (cursor === 0) window.scrollTo(0, 0);
  }
  document.body.setAttribute("data-ready", "1");
})();
