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
