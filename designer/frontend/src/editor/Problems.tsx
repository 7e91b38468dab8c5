// The problems panel: the validator's findings on the current (unsaved) document. Clicking
// one selects and centres its node.

import { memo } from "react";
import type { Problem } from "../api";
import { message, useLang, useT } from "../i18n";
import type { FlowDoc } from "./doc";

export interface ProblemsState {
  problems: Problem[];
  checking: boolean;
  failed: string;
}

export const ProblemsPanel = memo(ProblemsPanelView);

function ProblemsPanelView({
  state,
  doc,
  onPick,
}: {
  state: ProblemsState;
  doc: FlowDoc;
  onPick: (p: Problem) => void;
}) {
  const t = useT();
  const { lang } = useLang();
  const errors = state.problems.filter((p) => p.severity === "error").length;
  const warnings = state.problems.length - errors;
  return (
    <section className="problems" data-testid="problems">
      <header>
        <strong>{t("problems.title")}</strong>
        <span className="muted" data-testid="problems-summary">
          {state.checking ? t("problems.checking") : t("problems.summary", { e: errors, w: warnings })}
        </span>
        {state.failed && <span className="field-error">{t("problems.failed", { msg: state.failed })}</span>}
      </header>
      {!state.checking && state.problems.length === 0 && !state.failed && <p className="muted">{t("problems.none")}</p>}
      <ul>
        {state.problems.map((p, i) => {
          const node = p.node && doc.nodes[p.node];
          const where = node ? (node.label ? `${node.label}（${p.node}）` : p.node) : t("problems.flow");
          return (
            <li key={`${p.code}:${p.pointer}:${i}`}>
              <button
                type="button"
                className={`problem sev-${p.severity}`}
                data-testid="problem-item"
                data-node={p.node || ""}
                data-code={p.code}
                onClick={() => onPick(p)}
              >
                <span className="sev">{p.severity === "error" ? t("problems.error") : t("problems.warning")}</span>
                <span className="where">{where}</span>
                <span className="text">{message(lang, p)}</span>
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
