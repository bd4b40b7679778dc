// Loads the wasm dashboard. Kept out of index.html so the Content-Security-Policy can
// forbid inline scripts.
import init from "/web.js";
init({ module_or_path: "/web_bg.wasm" }).then((wasm) => {
  // The client's linear memory, for measurements (the browser tests read its size).
  window.lecternMemory = wasm.memory;
});
