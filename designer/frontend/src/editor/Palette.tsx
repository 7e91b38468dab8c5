// The palette: node types from /api/node-types, grouped by category, with a search box.
// Drag one onto the canvas (or double-click it) to add a node.

import { memo, useMemo, useState } from "react";
import { pick, useLang, useT } from "../i18n";
import type { NodeType, NodeTypes } from "./doc";

export const DRAG_TYPE = "application/x-ivrflow-node-type";

const ORDER = ["basic", "input", "logic", "integration", "transfer", "flow"];

export const Palette = memo(PaletteView);

function PaletteView({ types, onAdd, disabled }: { types: NodeTypes; onAdd: (type: string) => void; disabled: boolean }) {
  const t = useT();
  const { lang } = useLang();
  const [query, setQuery] = useState("");
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const matches = (n: NodeType) =>
      !q ||
      [n.type, n.title.zh, n.title.en, n.description.zh, n.description.en].some((s) => s.toLowerCase().includes(q));
    const cats = [...ORDER, ...Object.keys(types.categories).filter((c) => !ORDER.includes(c))];
    return cats
      .map((cat) => ({
        cat,
        nodes: types.nodes.filter((n) => n.category === cat && matches(n)),
      }))
      .filter((g) => g.nodes.length);
  }, [types, query]);

  return (
    <aside className="palette" data-testid="palette">
      <h3>{t("palette.title")}</h3>
      <input
        className="palette-search"
        type="search"
        data-testid="palette-search"
        placeholder={t("palette.search")}
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <p className="muted small">{t("palette.hint")}</p>
      {groups.length === 0 && <p className="muted">{t("palette.none")}</p>}
      {groups.map((g) => (
        <section key={g.cat} className="palette-group">
          <h4>{pick(lang, types.categories[g.cat], g.cat)}</h4>
          {g.nodes.map((n) => (
            <div
              key={n.type}
              className={`palette-item cat-${n.category}${disabled ? " disabled" : ""}`}
              draggable={!disabled}
              data-testid={`palette-${n.type}`}
              title={pick(lang, n.description)}
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, n.type);
                e.dataTransfer.setData("text/plain", n.type);
                e.dataTransfer.effectAllowed = "copy";
              }}
              onDoubleClick={() => !disabled && onAdd(n.type)}
            >
              <span className="palette-title">{pick(lang, n.title)}</span>
              <span className="palette-type">{n.type}</span>
            </div>
          ))}
        </section>
      ))}
    </aside>
  );
}
