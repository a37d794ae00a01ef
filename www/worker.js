// webtune's training worker: the site's own WebAssembly module, run in a dedicated
// worker so training never blocks the page. The page sends the URLs of the module's
// JavaScript and WebAssembly first (it knows them from its preloads, so one build serves
// both, under any sub-path); then the module takes over the worker's messages.
self.addEventListener("message", async function start(event) {
  self.removeEventListener("message", start);
  try {
    const { glue, wasm } = event.data;
    const module = await import(glue);
    await module.default({ module_or_path: wasm });
    module.webtune_worker();
  } catch (e) {
    self.postMessage({ fatal: `the training worker could not start: ${e}` });
  }
});
