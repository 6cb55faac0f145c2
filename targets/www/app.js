// Reports how long the page and its resources took, as the browser saw it.
"use strict";

window.addEventListener("load", function () {
  var out = document.getElementById("timing");
  if (!out || !window.performance || !performance.getEntriesByType) {
    return;
  }
  var nav = performance.getEntriesByType("navigation")[0];
  var parts = [];
  if (nav) {
    parts.push("page " + Math.round(nav.duration) + " ms");
  }
  performance.getEntriesByType("resource").forEach(function (r) {
    var name = r.name.substring(r.name.lastIndexOf("/") + 1);
    parts.push(name + " " + Math.round(r.duration) + " ms");
  });
  out.textContent = "Loaded: " + parts.join(", ") + ".";
});
