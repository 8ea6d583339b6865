// Layered layout by dagre. Every box of a rank has one height, so the rank is a horizontal band; an edge
// crosses a band only vertically, at the x dagre gave its dummy node (a slot of its own, clear of every box),
// and changes x only in the gaps between bands, where there are no boxes: no edge crosses a box.
import dagre from "@dagrejs/dagre";

export const NODE_HEIGHT = 66;
const LABEL_HEIGHT = 20;
const CHAR = 7.4; // px per character of the 12px monospace font the boxes use

export function nodeWidth(lines) {
  return Math.max(150, Math.ceil(Math.max(...lines.map((line) => line.length)) * CHAR) + 36);
}

export function labelSize(text) {
  return { width: Math.ceil(text.length * 6.8) + 16, height: LABEL_HEIGHT };
}

export function layout(nodes, edges) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 36, ranksep: 64, edgesep: 24, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) g.setNode(node.id, { width: node.width, height: NODE_HEIGHT });
  edges.forEach((edge) => {
    const label = edge.label ? { ...labelSize(edge.label), labelpos: "r", labeloffset: 10 } : {};
    g.setEdge(edge.source, edge.target, label, edge.id);
  });
  dagre.layout(g);
  const centers = new Set(nodes.map((node) => Math.round(g.node(node.id).y)));
  const placed = {};
  for (const node of nodes) {
    const at = g.node(node.id);
    placed[node.id] = { x: at.x - node.width / 2, y: at.y - NODE_HEIGHT / 2, width: node.width, height: NODE_HEIGHT };
  }
  const routes = {};
  for (const edge of edges) {
    const found = g.edge({ v: edge.source, w: edge.target, name: edge.id });
    const from = placed[edge.source];
    const to = placed[edge.target];
    const points = [{ x: from.x + from.width / 2, y: from.y + from.height }];
    for (const p of found.points.slice(1, -1)) {
      // Through a band of boxes: straight down at the dummy's x. Through a rank of labels: straight down for the
      // labels' height too, so the edge passes its label (set to its right by labeloffset) and never crosses it.
      const half = centers.has(Math.round(p.y)) ? NODE_HEIGHT / 2 + 4 : LABEL_HEIGHT / 2 + 4;
      points.push({ x: p.x, y: p.y - half }, { x: p.x, y: p.y + half });
    }
    points.push({ x: to.x + to.width / 2, y: to.y });
    routes[edge.id] = {
      points,
      label: edge.label ? { x: found.x, y: found.y, ...labelSize(edge.label) } : null,
    };
  }
  return { placed, routes };
}

// A path through the points with rounded corners (each corner cut by at most `radius`).
export function roundedPath(points, radius = 10) {
  if (points.length < 2) return "";
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i += 1) {
    const [a, b, c] = [points[i - 1], points[i], points[i + 1]];
    const r = Math.min(radius, dist(a, b) / 2, dist(b, c) / 2);
    const p1 = toward(b, a, r);
    const p2 = toward(b, c, r);
    d += ` L${p1.x},${p1.y} Q${b.x},${b.y} ${p2.x},${p2.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

function dist(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

function toward(from, to, r) {
  const d = dist(from, to) || 1;
  return { x: from.x + ((to.x - from.x) * r) / d, y: from.y + ((to.y - from.y) * r) / d };
}
