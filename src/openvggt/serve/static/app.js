/* The openvggt service page: upload, poll the job, show the result with the packaged viewer. */
(function () {
  "use strict";
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("openvggt-token") || "";
  let chosen = [];
  let view = null;

  const headers = () => (token ? { Authorization: "Bearer " + token } : {});
  const showError = (msg) => { $("error").textContent = msg || ""; };

  async function api(path, init) {
    const response = await fetch(API + path, Object.assign({}, init, { headers: headers() }));
    if (response.status === 401) { $("auth").classList.remove("hidden"); throw new Error("the server needs a valid token"); }
    return response;
  }

  async function detail(response) {
    try { return (await response.json()).detail || `HTTP ${response.status}`; } catch (e) { return `HTTP ${response.status}`; }
  }

  async function connect() {
    try {
      const r = await api("/health");
      if (!r.ok) throw new Error(await detail(r));
      const h = await r.json();
      $("auth").classList.add("hidden");
      $("server").textContent = `model ${h.model} on ${h.device} · ${h.queue.queued} queued, ${h.queue.running} running`;
      const l = h.limits;
      $("limits").textContent = `up to ${l.max_files} files, ${(l.max_total_bytes / 2 ** 20).toFixed(0)} MiB, ` +
        `${(l.max_image_pixels / 1e6).toFixed(0)} MP per image, videos up to ${l.max_video_seconds} s`;
      if (h.options.ba) $("opt-ba-label").classList.remove("hidden");
      updateButton();
    } catch (e) {
      $("server").textContent = e.message;
    }
  }

  function choose(files) {
    chosen = Array.from(files);
    $("chosen").textContent = chosen.length ? `${chosen.length} file(s): ` + chosen.map((f) => f.name).join(", ") : "";
    updateButton();
  }

  function updateButton() { $("submit").disabled = chosen.length === 0; }

  function options() {
    const o = { mode: $("opt-mode").value };
    const size = $("opt-size").value.trim();
    if (size) o.size = parseInt(size, 10);
    const conf = $("opt-conf").value.trim();
    if (conf) o.conf_threshold = parseFloat(conf);
    if (!$("opt-ba-label").classList.contains("hidden") && $("opt-ba").checked) o.ba = true;
    const chunk = $("opt-chunk").value.trim();
    if (chunk) {
      o.chunk = parseInt(chunk, 10);
      if ($("opt-loop").checked) o.loop_closure = true;
    } else if ($("opt-loop").checked) {
      o.loop_closure = true; // the server explains that it needs a chunk size
    }
    return o;
  }

  async function submit() {
    showError("");
    $("submit").disabled = true;
    const form = new FormData();
    chosen.forEach((f) => form.append("files", f, f.name));
    form.append("options", JSON.stringify(options()));
    try {
      const r = await api("/jobs", { method: "POST", body: form });
      if (r.status !== 202) throw new Error(await detail(r));
      const job = await r.json();
      $("progress-box").classList.remove("hidden");
      $("result").classList.add("hidden");
      await poll(job.id);
    } catch (e) {
      showError(e.message);
    } finally {
      updateButton();
    }
  }

  async function poll(id) {
    for (;;) {
      const r = await api(`/jobs/${id}`);
      if (!r.ok) throw new Error(await detail(r));
      const job = await r.json();
      $("progress").value = job.progress;
      $("stage").textContent = `${job.status}: ${job.stage} (${Math.round(job.progress * 100)} %)`;
      if (job.status === "done") { await showResult(job); return; }
      if (job.status === "failed") throw new Error("the job failed: " + job.error);
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }

  async function download(url, name) {
    const r = await fetch(url, { headers: headers() });
    if (!r.ok) { showError(await detail(r)); return; }
    const blob = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = blob; a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(blob), 10000);
  }

  async function showResult(job) {
    $("result").classList.remove("hidden");
    if (view) { view.dispose(); view = null; }
    view = await OpenVGGTViewer.mountFromUrl($("viewer"), job.results["viewer.json"], headers());
    const box = $("downloads");
    box.textContent = "";
    for (const [name, url] of Object.entries(job.results)) {
      if (name === "viewer.json") continue;
      const b = document.createElement("button");
      b.textContent = name;
      b.addEventListener("click", () => download(url, name));
      box.appendChild(b);
    }
  }

  const drop = $("drop");
  drop.addEventListener("click", () => $("files").click());
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files); });
  $("files").addEventListener("change", (e) => choose(e.target.files));
  $("submit").addEventListener("click", submit);
  $("token-save").addEventListener("click", () => {
    token = $("token").value.trim();
    sessionStorage.setItem("openvggt-token", token);
    connect();
  });
  connect();
})();
