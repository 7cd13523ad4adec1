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
      state: { useMaxWidth: true }
    });
    window.mermaid.run({ querySelector: "pre.mermaid" }).then(function () {
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
