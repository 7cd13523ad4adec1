// Casework console: render the Mermaid diagrams, and leave the page when the session's
// idle limit has passed (the server has already ended the session by then).
(function () {
  "use strict";
  var body = document.body;
  var idle = Number(body.getAttribute("data-idle-seconds") || "0");
  if (idle > 0) {
    window.setTimeout(function () {
      window.location.assign(body.getAttribute("data-login"));
    }, (idle + 1) * 1000);
  }
  function render() {
    if (!window.mermaid || !document.querySelector("pre.mermaid")) {
      body.setAttribute("data-diagrams", "none");
      return;
    }
    window.mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "neutral",
      state: { useMaxWidth: false }
    });
    window.mermaid.run({ querySelector: "pre.mermaid" }).then(function () {
      // bring the case's current state into view inside its scrolling box
      document.querySelectorAll("div.diagram").forEach(function (box) {
        var node = box.querySelector("svg g.current");
        if (!node) { return; }
        var b = box.getBoundingClientRect(), n = node.getBoundingClientRect();
        box.scrollLeft += (n.left - b.left) - (b.width - n.width) / 2;
        box.scrollTop += (n.top - b.top) - (b.height - n.height) / 3;
      });
      body.setAttribute("data-diagrams", "rendered");
    }, function () {
      body.setAttribute("data-diagrams", "failed");
    });
  }
  if (document.querySelector("pre.mermaid")) {
    var s = document.createElement("script");
    s.src = body.getAttribute("data-login").replace(/\/login.*$/, "/static/mermaid.min.js");
    s.onload = render;
    s.onerror = function () { body.setAttribute("data-diagrams", "failed"); };
    document.head.appendChild(s);
  } else {
    body.setAttribute("data-diagrams", "none");
  }
})();
