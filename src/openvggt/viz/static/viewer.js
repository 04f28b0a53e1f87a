/* openvggt point-cloud viewer: draws a payload of openvggt.viz.web (points + cameras) with three.js.
 *
 * Needs the global THREE of three.bundle.min.js. Usage:
 *   const view = OpenVGGTViewer.mount(element, payload);   // payload: see openvggt/viz/web.py
 *   view.dispose();
 * The payload is in OpenCV world coordinates (x right, y down, z forward); the scene root turns it
 * half a turn about x so that "up" on screen is the cameras' up.
 */
(function (global) {
  "use strict";

  function bytes(b64) {
    const bin = global.atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function decodePoints(p) {
    const q = new Uint16Array(bytes(p.position).buffer);
    const pos = new Float32Array(q.length);
    for (let i = 0; i < q.length; i++) {
      const a = i % 3;
      pos[i] = p.min[a] + (q[i] / 65535) * (p.max[a] - p.min[a]);
    }
    return { position: pos, color: bytes(p.color) };
  }

  // Camera maths on plain arrays: w2c is [[r00 r01 r02 t0] ...] (world-to-camera).
  function cameraToWorld(w2c, x, y, z) {
    const R = w2c, t = [w2c[0][3], w2c[1][3], w2c[2][3]];
    const p = [x - t[0], y - t[1], z - t[2]];
    return [
      R[0][0] * p[0] + R[1][0] * p[1] + R[2][0] * p[2],
      R[0][1] * p[0] + R[1][1] * p[1] + R[2][1] * p[2],
      R[0][2] * p[0] + R[1][2] * p[1] + R[2][2] * p[2],
    ];
  }

  function frustumCorners(cam, d) {
    const K = cam.K, W = cam.width, H = cam.height;
    return [[0, 0], [W, 0], [W, H], [0, H]].map(([u, v]) =>
      cameraToWorld(cam.w2c, ((u - K[0][2]) / K[0][0]) * d, ((v - K[1][2]) / K[1][1]) * d, d));
  }

  function panel(container, items) {
    const box = document.createElement("div");
    box.style.cssText = "position:absolute;top:8px;left:8px;background:#000a;color:#eee;font:12px system-ui,sans-serif;" +
      "padding:6px 10px;border-radius:6px;display:flex;gap:10px;align-items:center;flex-wrap:wrap;max-width:95%";
    for (const el of items) box.appendChild(el);
    container.appendChild(box);
    return box;
  }

  function checkbox(label, checked, onChange) {
    const l = document.createElement("label");
    const c = document.createElement("input");
    c.type = "checkbox";
    c.checked = checked;
    c.addEventListener("change", () => onChange(c.checked));
    l.appendChild(c);
    l.appendChild(document.createTextNode(" " + label));
    return l;
  }

  function slider(label, min, max, step, value, onInput) {
    const l = document.createElement("label");
    const s = document.createElement("input");
    s.type = "range";
    s.min = min; s.max = max; s.step = step; s.value = value;
    s.style.width = "90px";
    s.addEventListener("input", () => onInput(parseFloat(s.value)));
    l.appendChild(document.createTextNode(label + " "));
    l.appendChild(s);
    return l;
  }

  function mount(container, payload) {
    const T = global.THREE;
    if (!T) throw new Error("three.bundle.min.js must load before viewer.js");
    T.ColorManagement.enabled = false; // colours and pictures are sRGB bytes: draw them as they are
    container.style.background = container.style.background || "#15181d";
    const renderer = new T.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    renderer.outputColorSpace = T.LinearSRGBColorSpace; // no conversion on output either
    renderer.setPixelRatio(Math.min(global.devicePixelRatio || 1, 2));
    const size = () => [Math.max(container.clientWidth, 50), Math.max(container.clientHeight, 50)];
    renderer.setSize(...size());
    renderer.domElement.style.display = "block";
    container.appendChild(renderer.domElement);

    const scene = new T.Scene();
    scene.background = new T.Color(0x15181d);
    const root = new T.Group();
    root.rotation.x = Math.PI; // OpenCV (y down, z forward) -> three.js (y up, z towards the viewer)
    scene.add(root);

    // Points
    const pts = decodePoints(payload.points);
    const geometry = new T.BufferGeometry();
    geometry.setAttribute("position", new T.BufferAttribute(pts.position, 3));
    geometry.setAttribute("color", new T.BufferAttribute(pts.color, 3, true));
    const material = new T.PointsMaterial({ size: 2, vertexColors: true, sizeAttenuation: false });
    const cloud = new T.Points(geometry, material);
    root.add(cloud);

    // Scale and middle of the scene from the 5th-95th percentiles of the points (robust to stray
    // points), or from the camera spread when there are no points.
    const cams = payload.cameras || [];
    const centres = cams.map((c) => cameraToWorld(c.w2c, 0, 0, 0));
    const n = payload.points.count;
    const stride = Math.max(1, Math.floor(n / 5000));
    const lo = [], hi = [], mid = [];
    for (let a = 0; a < 3; a++) {
      const v = [];
      for (let i = 0; i < n; i += stride) v.push(pts.position[3 * i + a]);
      if (!v.length) for (const c of centres) v.push(c[a]);
      if (!v.length) v.push(0);
      v.sort((x, y) => x - y);
      const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
      lo.push(at(0.05)); hi.push(at(0.95)); mid.push(at(0.5));
    }
    let extent = Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
    if (!isFinite(extent) || extent <= 0) extent = 1;

    // Cameras: frustum lines, their pictures, the trajectory through the centres.
    const frustumGroup = new T.Group(), imageGroup = new T.Group(), trajGroup = new T.Group();
    const depth = 0.06 * extent;
    const linePos = [];
    const textures = [];
    const loader = new T.TextureLoader();
    cams.forEach((cam, i) => {
      const c = centres[i], k = frustumCorners(cam, depth);
      for (let j = 0; j < 4; j++) linePos.push(...c, ...k[j], ...k[j], ...k[(j + 1) % 4]);
      if (cam.image) {
        const quad = new T.BufferGeometry();
        quad.setAttribute("position", new T.Float32BufferAttribute([].concat(...k), 3));
        quad.setAttribute("uv", new T.Float32BufferAttribute([0, 1, 1, 1, 1, 0, 0, 0], 2));
        quad.setIndex([0, 1, 2, 0, 2, 3]);
        const tex = loader.load(cam.image, () => render());
        textures.push(tex);
        const mat = new T.MeshBasicMaterial({ map: tex, side: T.DoubleSide, transparent: true, opacity: 0.9 });
        imageGroup.add(new T.Mesh(quad, mat));
      }
    });
    const frustums = new T.BufferGeometry();
    frustums.setAttribute("position", new T.Float32BufferAttribute(linePos, 3));
    frustumGroup.add(new T.LineSegments(frustums, new T.LineBasicMaterial({ color: 0xff6b3d })));
    if (centres.length > 1) {
      const traj = new T.BufferGeometry();
      traj.setAttribute("position", new T.Float32BufferAttribute([].concat(...centres), 3));
      trajGroup.add(new T.Line(traj, new T.LineBasicMaterial({ color: 0x4cc3ff })));
    }
    root.add(frustumGroup, imageGroup, trajGroup);

    // View: from the first camera's side, raised a little, looking at the middle of the cloud.
    const [w, h] = size();
    const camera = new T.PerspectiveCamera(50, w / h, extent * 1e-3, extent * 100);
    const toView = (p) => new T.Vector3(p[0], -p[1], -p[2]);
    const target = toView(mid);
    const home = () => {
      const f = cams.length ? cams[0].w2c[2] : [0, 0, 1], down = cams.length ? cams[0].w2c[1] : [0, 1, 0];
      const dir = [0, 1, 2].map((a) => f[a] + 0.5 * down[a]);
      const len = Math.hypot(...dir) || 1;
      camera.position.copy(toView([0, 1, 2].map((a) => mid[a] - (1.2 * extent * dir[a]) / len)));
      camera.up.copy(toView(down.slice(0, 3).map((v) => -v)));
      camera.lookAt(target);
    };
    home();
    const controls = new T.OrbitControls(camera, renderer.domElement);
    controls.target.copy(target);
    controls.update();

    let frame = 0;
    function render() {
      if (frame) return;
      frame = global.requestAnimationFrame(() => {
        frame = 0;
        renderer.render(scene, camera);
        container.dataset.ready = "1";
      });
    }
    controls.addEventListener("change", render);
    const resize = () => {
      const [rw, rh] = size();
      renderer.setSize(rw, rh);
      camera.aspect = rw / rh;
      camera.updateProjectionMatrix();
      render();
    };
    const observer = global.ResizeObserver ? new global.ResizeObserver(resize) : null;
    if (observer) observer.observe(container);

    const reset = document.createElement("button");
    reset.textContent = "reset view";
    reset.addEventListener("click", () => { home(); controls.target.copy(target); controls.update(); render(); });
    const info = document.createElement("span");
    info.textContent = `${payload.points.count.toLocaleString()} points, ${cams.length} cameras`;
    const ui = panel(container, [
      info,
      slider("point size", 1, 8, 0.5, 2, (v) => { material.size = v; render(); }),
      checkbox("cameras", true, (on) => { frustumGroup.visible = on; render(); }),
      checkbox("images", true, (on) => { imageGroup.visible = on; render(); }),
      checkbox("trajectory", true, (on) => { trajGroup.visible = on; render(); }),
      reset,
    ]);
    container.dataset.points = String(payload.points.count);
    renderer.render(scene, camera);
    container.dataset.ready = "1";

    return {
      renderer, scene, camera, controls, render,
      dispose() {
        if (observer) observer.disconnect();
        controls.dispose();
        geometry.dispose(); material.dispose(); frustums.dispose();
        textures.forEach((t) => t.dispose());
        renderer.dispose();
        renderer.domElement.remove();
        ui.remove();
        delete container.dataset.ready;
      },
    };
  }

  async function mountFromUrl(container, url, headers) {
    const response = await global.fetch(url, { headers: headers || {} });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return mount(container, await response.json());
  }

  global.OpenVGGTViewer = { mount, mountFromUrl };
})(window);
