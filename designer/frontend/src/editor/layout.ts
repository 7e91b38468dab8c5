// Automatic layout (dagre), left to right in the order a call flows: used for flows that
// arrive without positions (imported, written by hand) and on request ("Auto layout").

import dagre from "@dagrejs/dagre";
import type { FlowDoc } from "./doc";
import type { ExitInfo } from "./exits";

export const NODE_WIDTH = 220;
const HEADER = 58;
const ROW = 22;

export function nodeHeight(exitCount: number): number {
  return HEADER + Math.max(exitCount, 1) * ROW + 10;
}

/** Above this many nodes dagre takes seconds; a layered layout by call order is used. */
const DAGRE_LIMIT = 800;

export function autoLayout(doc: FlowDoc, exits: Record<string, ExitInfo>): Record<string, { x: number; y: number }> {
  if (Object.keys(doc.nodes).length > DAGRE_LIMIT) return layeredLayout(doc, exits);
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = Object.keys(doc.nodes);
  for (const id of ids) {
    const count = exits[id]?.exits.length ?? Object.keys(doc.nodes[id].exits || {}).length;
    g.setNode(id, { width: NODE_WIDTH, height: nodeHeight(count) });
  }
  for (const id of ids) {
    for (const target of Object.values(doc.nodes[id].exits || {})) {
      if (target && target in doc.nodes && target !== id) g.setEdge(id, target);
    }
  }
  dagre.layout(g);
  const out: Record<string, { x: number; y: number }> = {};
  for (const id of ids) {
    const n = g.node(id);
    if (n) out[id] = { x: Math.round(n.x - n.width / 2), y: Math.round(n.y - n.height / 2) };
  }
  return out;
}

/** Columns by distance from the start (breadth first), in the order exits are reached. */
function layeredLayout(doc: FlowDoc, exits: Record<string, ExitInfo>): Record<string, { x: number; y: number }> {
  const ids = Object.keys(doc.nodes);
  const rank: Record<string, number> = {};
  const order: string[] = [];
  const roots = ids.filter((id) => doc.nodes[id].type === "core.start");
  const queue = [...roots, ...ids.filter((id) => !roots.includes(id))];
  for (const root of queue) {
    if (root in rank) continue;
    rank[root] = 0;
    const frontier = [root];
    while (frontier.length) {
      const id = frontier.shift()!;
      order.push(id);
      for (const target of Object.values(doc.nodes[id].exits || {})) {
        if (target && target in doc.nodes && !(target in rank)) {
          rank[target] = rank[id] + 1;
          frontier.push(target);
        }
      }
    }
  }
  const nextY: Record<number, number> = {};
  const out: Record<string, { x: number; y: number }> = {};
  for (const id of order) {
    const r = rank[id];
    const y = nextY[r] ?? 0;
    const count = exits[id]?.exits.length ?? Object.keys(doc.nodes[id].exits || {}).length;
    out[id] = { x: r * (NODE_WIDTH + 90), y };
    nextY[r] = y + nodeHeight(count) + 30;
  }
  return out;
}

/** True when some node has no position: the flow came from elsewhere and needs a layout. */
export function needsLayout(doc: FlowDoc): boolean {
  return Object.values(doc.nodes).some((n) => typeof n.ui?.x !== "number" || typeof n.ui?.y !== "number");
}
