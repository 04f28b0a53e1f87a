// The parts of three.js the openvggt viewers use, bundled into one classic script that defines a
// global THREE (see build.sh). Tree-shaking keeps the bundle at about half of three.module.js.
export {
  WebGLRenderer, Scene, PerspectiveCamera, Color, BufferGeometry, BufferAttribute, Float32BufferAttribute,
  Points, PointsMaterial, LineSegments, Line, LineBasicMaterial, Group, Vector3, Mesh, MeshBasicMaterial,
  TextureLoader, DoubleSide, LinearSRGBColorSpace, ColorManagement, REVISION,
} from 'three';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
