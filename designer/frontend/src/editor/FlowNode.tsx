// A node on the canvas: its title and label, one input on the left and one named port per
// exit on the right (a menu's keys appear and disappear with its options).

import { Handle, Position, useUpdateNodeInternals } from "@xyflow/react";
import type { Node, NodeProps } from "@xyflow/react";
import { memo, useEffect, useRef } from "react";

export interface PortView {
  name: string;
  title: string;
  wired: boolean;
  optional: boolean;
  taken: boolean; // the simulated call left through it
}

export interface IvrNodeData extends Record<string, unknown> {
  nodeId: string;
  label: string;
  typeTitle: string;
  category: string;
  ports: PortView[];
  errors: number;
  warnings: number;
  problemText: string;
  active: boolean;
  visited: boolean;
  unknown: boolean;
  terminal: boolean;
  isStart: boolean;
  inputTitle: string;
  endTitle: string;
}

export type IvrNode = Node<IvrNodeData, "ivr">;

function FlowNodeView({ data, selected }: NodeProps<IvrNode>) {
  const update = useUpdateNodeInternals();
  const signature = data.ports.map((p) => p.name).join("\u0000");
  const shown = useRef(signature);
  useEffect(() => {
    // React Flow measures a new node itself; ports that come or go later need a re-measure
    if (shown.current === signature) return;
    shown.current = signature;
    update(data.nodeId);
  }, [signature, data.nodeId, update]);

  const classes = ["ivr-node", `cat-${data.category}`];
  if (selected) classes.push("selected");
  if (data.errors) classes.push("has-errors");
  else if (data.warnings) classes.push("has-warnings");
  if (data.active) classes.push("active");
  else if (data.visited) classes.push("visited");
  if (data.unknown) classes.push("unknown");

  return (
    <div className={classes.join(" ")} data-testid={`node-${data.nodeId}`} title={data.problemText || undefined}>
      {!data.isStart && (
        <Handle type="target" position={Position.Left} id="in" className="port-in" title={data.inputTitle} />
      )}
      <div className="ivr-node-head">
        <span className="ivr-node-type">{data.typeTitle}</span>
        {data.errors > 0 && (
          <span className="badge badge-error" data-testid="node-error-badge">
            {data.errors}
          </span>
        )}
        {!data.errors && data.warnings > 0 && <span className="badge badge-warning">{data.warnings}</span>}
      </div>
      <div className="ivr-node-label">{data.label}</div>
      <div className="ivr-node-ports">
        {data.ports.map((port) => (
          <div
            key={port.name}
            className={`ivr-port${port.wired ? " wired" : ""}${port.taken ? " taken" : ""}${
              !port.wired && !port.optional ? " unwired" : ""
            }`}
            data-testid={`port-${data.nodeId}-${port.name}`}
          >
            <span className="ivr-port-title">{port.title}</span>
            <Handle type="source" position={Position.Right} id={port.name} className="port-out" />
          </div>
        ))}
        {data.terminal && <div className="ivr-port end">{data.endTitle}</div>}
      </div>
    </div>
  );
}

export const FlowNode = memo(FlowNodeView);
