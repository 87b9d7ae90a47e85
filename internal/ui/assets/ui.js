// Brushing the timeline: drag across it to fill the window form's From
// and Until. Everything else works without this script.
(function () {
  "use strict";
  var svg = document.getElementById("timeline");
  if (!svg) return;
  var brush = document.getElementById("brush");
  var from = Number(svg.dataset.from), to = Number(svg.dataset.to);
  var width = svg.viewBox.baseVal.width;
  var start = null;
  function x(ev) {
    var r = svg.getBoundingClientRect();
    return Math.max(0, Math.min(width, (ev.clientX - r.left) / r.width * width));
  }
  function iso(v) {
    var ns = from + (to - from) * v / width;
    var ms = Math.floor(ns / 1e6);
    return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
  }
  function show(a, b) {
    brush.setAttribute("x", Math.min(a, b));
    brush.setAttribute("width", Math.abs(b - a));
  }
  svg.addEventListener("pointerdown", function (ev) {
    start = x(ev);
    svg.setPointerCapture(ev.pointerId);
    show(start, start);
  });
  svg.addEventListener("pointermove", function (ev) {
    if (start !== null) show(start, x(ev));
  });
  svg.addEventListener("pointerup", function (ev) {
    if (start === null) return;
    var end = x(ev), a = Math.min(start, end), b = Math.max(start, end);
    start = null;
    if (b - a < 2) return;
    document.getElementById("win-since").value = iso(a);
    // Round the end up to the next second, so the window holds its last packet.
    var ns = from + (to - from) * b / width;
    document.getElementById("win-until").value = new Date(Math.ceil(ns / 1e9) * 1e3).toISOString().replace(/\.\d+Z$/, "Z");
    document.getElementById("win-since").focus();
  });
})();

// Live refresh of the overview: on while its checkbox is ticked (the
// choice is kept in the address: live=1).
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) return;
  box.hidden = false;
  var input = box.querySelector("input");
  var timer = null;
  function arm() {
    if (timer) clearTimeout(timer);
    timer = input.checked ? setTimeout(function () { location.reload(); }, 5000) : null;
  }
  input.addEventListener("change", function () {
    var u = new URL(location.href);
    if (input.checked) u.searchParams.set("live", "1"); else u.searchParams.delete("live");
    history.replaceState(null, "", u);
    arm();
  });
  arm();
})();

// "/" focuses the search's filter, as in many tools.
document.addEventListener("keydown", function (ev) {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  var t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  var f = document.getElementById("filter");
  if (f) { ev.preventDefault(); f.focus(); f.select(); }
});
