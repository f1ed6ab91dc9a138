/* The console's flow diagram: Mermaid (served from /vendor, nothing is downloaded) draws the
   playbook's flowchart in the browser. securityLevel "strict" keeps editors' text as text:
   no HTML, no scripts, no click handlers. */
(function () {
  "use strict";
  var diagram = document.getElementById("flow");
  if (!diagram) return;
  function failed() {
    diagram.dataset.state = "failed";
    document.getElementById("flow-error").hidden = false;
  }
  if (!window.mermaid) { failed(); return; }
  window.mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    theme: "neutral",
    fontFamily: '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif',
    flowchart: { useMaxWidth: true, curve: "basis", wrappingWidth: 260 }
  });
  window.mermaid.run({ nodes: [diagram] }).then(function () {
    diagram.dataset.state = "drawn";
  }).catch(failed);
})();
